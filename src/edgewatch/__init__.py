"""edgewatch: Inspektor Gadget signals from edge Kubernetes nodes, filtered and delivered."""

__version__ = "0.1.0"
