"""slimview: why is this container image fat, and how to make it smaller."""

__version__ = "0.1.0"
