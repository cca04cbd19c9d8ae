"""Where events go: stdout (the Container Insights path), rotating files, summaries."""
