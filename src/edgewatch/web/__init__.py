"""The local dashboard: a read-only web view of the node's store.

``edgewatch serve`` runs it on a store file; an agent runs it on the store it is
writing (``dashboard:`` in its config, see ``agent.py``). Every page is a small HTML
shell plus one JSON call (the API under ``/api``, described by the OpenAPI spec at
``/api/openapi.json``); the queries behind the pages aggregate in DuckDB within a time
window and return a bounded number of rows, so a page stays fast on a store of tens of
millions of events.
"""
