"""Kubernetes manifests for the agent: ``edgewatch deploy k8s`` (see :mod:`.generate`)."""
