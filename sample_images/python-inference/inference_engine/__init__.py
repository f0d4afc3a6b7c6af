"""A small inference service: a fixed two-layer MLP behind FastAPI."""

__version__ = "0.3.1"
