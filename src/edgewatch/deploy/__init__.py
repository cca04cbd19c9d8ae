"""Generators for what edgewatch needs outside the node: Azure templates and manifests."""
