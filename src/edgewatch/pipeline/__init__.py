"""Stages between sources and sinks, and the runtime that wires them with bounded queues."""
