"""Delivery to Microsoft Sentinel / Log Analytics through the Azure Monitor Logs Ingestion API.

``config`` (settings and SDK construction), ``batch`` (records -> request bodies),
``request`` (one request -> outcome), ``sink`` (``AzureDelivery``: all three plus health).
"""

from edgewatch.sinks.azure.config import (
    AzureConfigError,
    AzureLogsIngestionConfig,
    CredentialConfig,
    build_client,
    build_credential,
)
from edgewatch.sinks.azure.outcome import Outcome, Rejected, Retry
from edgewatch.sinks.azure.sink import AzureDelivery, Health

__all__ = [
    "AzureConfigError",
    "AzureDelivery",
    "AzureLogsIngestionConfig",
    "CredentialConfig",
    "Health",
    "Outcome",
    "Rejected",
    "Retry",
    "build_client",
    "build_credential",
]
