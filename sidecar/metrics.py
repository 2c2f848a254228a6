"""Prometheus metrics for the operator: queries, refusals, rows and bytes per identity and
interface, latency, failed logins, dataset health.

Each runtime owns its own registry so several sidecars (or tests) in one process never collide.
A scrape is answered as its caller: under policies the dataset gauges name only the datasets
that caller sees, and give row counts only where no row filter hides rows from it; the
per-identity series are the caller's own unless its policy says `metrics: all`.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from policies.access import Grant, unrestricted
from sidecar.engine import Engine
from sidecar.engine.catalog import State

M = TypeVar("M", Counter, Gauge, Histogram)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class DatasetCollector(Collector):
    """Reads dataset health at scrape time, so the numbers are never stale."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self, grant: Grant | None = None) -> list[GaugeMetricFamily]:
        grant = grant or unrestricted()
        ready = GaugeMetricFamily(
            "sidecar_dataset_ready",
            "1 when the dataset answers queries (as /v1/ready counts it: a stale copy does)",
            labels=["dataset"],
        )
        stale = GaugeMetricFamily(
            "sidecar_dataset_stale",
            "1 while a local copy answers whose source or last refresh failed",
            labels=["dataset"],
        )
        rows = GaugeMetricFamily(
            "sidecar_dataset_rows",
            "Rows queries read (a local copy's, else the source's count), where known",
            labels=["dataset"],
        )
        for entry in self.engine.catalog.datasets.values():
            if not grant.sees(entry.name):
                continue
            ready.add_metric([entry.name], 1.0 if entry.available else 0.0)
            stale.add_metric([entry.name], 1.0 if entry.state is State.STALE else 0.0)
            if entry.rows is not None and grant.counts_rows(entry.name):
                rows.add_metric([entry.name], float(entry.rows))
        return [ready, stale, rows]


class Answered:
    """What statements answered at once add to the per-statement series (queries, rows,
    bytes, latency, lanes, at-once answers), kept as plain numbers under one lock and added
    to the series at each scrape: a repeated lookup costs a few microseconds, and writing six
    prometheus_client series (each with its own lock and checks) on every one was a tenth of
    it. A scrape reads exactly what direct writes would have shown."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._lock = threading.Lock()
        # (interface, identity, lane) -> [statements, rows, bytes, seconds, per latency bucket]
        self._pending: dict[tuple[str, str, str], list[Any]] = {}
        self._bounds = [float(bound) for bound in LATENCY_BUCKETS]

    def add(
        self, interface: str, identity: str, lane: str, rows: int, size: int, seconds: float
    ) -> None:
        bucket = bisect.bisect_left(self._bounds, seconds)
        key = (interface, identity, lane)
        with self._lock:
            tally = self._pending.get(key)
            if tally is None:
                tally = self._pending[key] = [0, 0, 0, 0.0] + [0] * (len(self._bounds) + 1)
            tally[0] += 1
            tally[1] += rows
            tally[2] += size
            tally[3] += seconds
            tally[4 + bucket] += 1

    def fold(self) -> None:
        """Add what is pending to the series."""
        with self._lock:
            pending, self._pending = self._pending, {}
        metrics = self.metrics
        for (interface, identity, lane), tally in pending.items():
            count, rows, size, seconds = tally[:4]
            metrics.queries.labels(interface, "ok", identity).inc(count)
            metrics.rows.labels(interface, identity).inc(rows)
            metrics.bytes.labels(interface, identity).inc(size)
            metrics.lanes.labels(interface, lane).inc(count)
            metrics.at_once.labels(interface).inc(count)
            latency = metrics.latency.labels(interface)
            # prometheus_client's Histogram keeps a sum and a count per bucket (not yet
            # cumulative), which `observe` adds to; unit-tested against `observe`
            latency._sum.inc(seconds)
            for bucket, observed in enumerate(tally[4:]):
                if observed:
                    latency._buckets[bucket].inc(observed)


class Series(Generic[M]):
    """A labelled metric's series by their label values, kept: prometheus_client's `labels`
    checks and locks on every call, and each statement looks up five series. prometheus_client
    keeps every series it made too, so this holds no more than it does."""

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._series: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        series = self._series.get(values)
        if series is None:
            series = self._series[values] = self.metric.labels(*values)
        return series


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
        self.lanes = Counter(
            "sidecar_lane_answers",
            "Statements answered without planning, by interface and lane: key_index (a keyed "
            "lookup answered from a local copy's key index) or row_groups (from a Parquet "
            "file's kept row groups)",
            ["interface", "lane"],
            registry=self.registry,
        )
        self.at_once = Counter(
            "sidecar_at_once_answers",
            "Statements a server answered whole in one step on its event loop (no thread, "
            "portal or plan: a repeated keyed lookup), by interface",
            ["interface"],
            registry=self.registry,
        )
        self.answered = Answered(self)
        self.datasets = DatasetCollector(engine)

    def render(self, grant: Grant | None = None) -> bytes:
        """The exposition as `grant` may read it (everything without one)."""
        self.answered.fold()
        scrape = CollectorRegistry()
        scrape.register(_Counters(self.registry, grant))
        scrape.register(_Visible(self.datasets, grant))
        return generate_latest(scrape)


class _Counters(Collector):
    """The counters, with the per-identity series `grant` may see (all of them without one)."""

    def __init__(self, registry: CollectorRegistry, grant: Grant | None) -> None:
        self.registry, self.grant = registry, grant

    def collect(self) -> Iterable[Metric]:
        grant = self.grant
        for metric in self.registry.collect():
            if grant is not None:
                shown = [
                    sample
                    for sample in metric.samples
                    if "identity" not in sample.labels
                    or grant.sees_identity(sample.labels["identity"])
                ]
                if len(shown) != len(metric.samples):
                    metric = _with_samples(metric, shown)
            yield metric


def _with_samples(metric: Metric, samples: list[Any]) -> Metric:
    copy = Metric(metric.name, metric.documentation, metric.type, metric.unit)
    copy.samples = samples
    return copy


class _Visible(Collector):
    def __init__(self, datasets: DatasetCollector, grant: Grant | None) -> None:
        self.datasets, self.grant = datasets, grant

    def collect(self) -> list[GaugeMetricFamily]:
        return self.datasets.collect(self.grant)
