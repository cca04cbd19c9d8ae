"""Azure Logs Ingestion delivery, against the local fake of the documented API."""
