"""Prometheus metrics for the operator: queries, refusals, rows and bytes per identity and
interface, latency, failed logins, dataset health.

Each runtime owns its own registry so several sidecars (or tests) in one process never collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar.engine import Engine
from sidecar.engine.catalog import State

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class DatasetCollector(Collector):
    """Reads dataset health at scrape time, so the numbers are never stale."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> list[GaugeMetricFamily]:
        ready = GaugeMetricFamily(
            "sidecar_dataset_ready", "1 when the dataset's source is loadable", labels=["dataset"]
        )
        rows = GaugeMetricFamily(
            "sidecar_dataset_rows",
            "Rows in the dataset, where the source knows",
            labels=["dataset"],
        )
        for entry in self.engine.catalog.datasets.values():
            ready.add_metric([entry.name], 1.0 if entry.state is State.READY else 0.0)
            if entry.row_count is not None:
                rows.add_metric([entry.name], float(entry.row_count))
        return [ready, rows]


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        self.queries = Counter(
            "sidecar_queries",
            "Statements by interface, outcome (ok or an error code) and identity",
            ["interface", "outcome", "identity"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "sidecar_refusals",
            "Statements refused, by identity and reason: a limit (rate, max_concurrent, "
            "max_rows, max_bytes, query_timeout) or the guard (forbidden)",
            ["identity", "reason"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "sidecar_auth_failures",
            "Failed authentications by interface",
            ["interface"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sidecar_query_duration_seconds",
            "Time to the end of a query's result",
            ["interface"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "sidecar_rows_returned",
            "Rows served, by interface and identity",
            ["interface", "identity"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "sidecar_bytes_returned",
            "Bytes of Arrow data served, by interface and identity",
            ["interface", "identity"],
            registry=self.registry,
        )
        self.inflight = Gauge(
            "sidecar_queries_in_flight",
            "Queries currently running",
            ["interface"],
            registry=self.registry,
        )
        self.registry.register(DatasetCollector(engine))

    def render(self) -> bytes:
        return generate_latest(self.registry)
