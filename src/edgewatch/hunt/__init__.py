"""KQL hunting over the local store: the engine, its extensions and the bundled queries."""
