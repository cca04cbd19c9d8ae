"""Enrichment: DNS names for addresses, address classes, and pod owners."""

from edgewatch.pipeline.enrich.dnsmap import DnsMap, DnsMapStats
from edgewatch.pipeline.enrich.ipclass import IpClassifier
from edgewatch.pipeline.enrich.owner import owner_of
from edgewatch.pipeline.enrich.stage import EnrichStage

__all__ = ["DnsMap", "DnsMapStats", "EnrichStage", "IpClassifier", "owner_of"]
