"""edgewatch's benchmark suite: ``python -m bench`` writes BENCHMARKS.md."""
