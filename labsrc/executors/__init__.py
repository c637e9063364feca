"""Executors: the base, the concurrent.futures pools, the book's alternatives (threading, mp_pool) and Dask."""
