"""A per-agent, read-only data sidecar: one process, one agent, only the datasets it was given."""

__version__ = "0.1.0"
