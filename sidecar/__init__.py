"""A per-agent, read-only data sidecar: one process, one agent, only the datasets it was given."""

from sidecar.footprint import keep_pandas_out, lean_allocators

__version__ = "0.1.0"
lean_allocators()
keep_pandas_out()
