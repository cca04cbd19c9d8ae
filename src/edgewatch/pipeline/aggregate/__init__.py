"""Aggregation: tumbling windows that fold repeated events into counted summaries."""

from edgewatch.pipeline.aggregate.keys import key_reader, virtual_fields
from edgewatch.pipeline.aggregate.stage import AggregateStage

__all__ = ["AggregateStage", "key_reader", "virtual_fields"]
