"""What ingestion into Log Analytics / Sentinel costs, raw and after edgewatch's stages."""
