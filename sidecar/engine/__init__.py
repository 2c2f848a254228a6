"""The federated query engine: catalog, planner, executor."""

from sidecar.engine.engine import Engine
from sidecar.engine.executor import QueryResult

__all__ = ["Engine", "QueryResult"]
