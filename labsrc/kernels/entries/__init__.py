"""Catalog entries, one module per kernel, each defining `ENTRY: Kernel`."""
