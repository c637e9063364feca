"""gil-lab: study the GIL by running the same kernels under different concurrency models."""

__version__ = "0.1.0"
