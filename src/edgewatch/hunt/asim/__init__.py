"""ASIM on the store: Sentinel's normalized tables as views, its parsers as functions."""
