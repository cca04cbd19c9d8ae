"""The SQL behind each page, one module per page.

Every query is bounded twice: by the page's time window (``time_ns`` BETWEEN, which
DuckDB prunes by row-group statistics) and by a LIMIT; it aggregates in SQL over the
typed columns, never over JSON text, and returns at most a few hundred rows.
"""
