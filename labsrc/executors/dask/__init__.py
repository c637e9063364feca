"""The Dask executors: embedded or remote clusters, their worker side and probes."""
