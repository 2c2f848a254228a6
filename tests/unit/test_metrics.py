"""metrics.Answered: at-once answers tallied as plain numbers show, at a scrape, exactly what
writing every series directly would have shown."""

from __future__ import annotations

import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.metrics import LATENCY_BUCKETS, Metrics

ANSWERS = [
    ("pg", "agent", "key_index", 1, 35, 0.0001),
    ("pg", "agent", "key_index", 0, 0, 0.001),  # on a bucket's bound: that bucket
    ("pg", "bi", "key_index", 3, 120, 0.02),
    ("flight", "agent", "row_groups", 1, 40, 0.3),
    ("pg", "agent", "key_index", 1, 35, 99.0),  # past every bound: +Inf
]


def direct(metrics: Metrics, interface: str, identity: str, lane: str, rows: int, size: int,
           seconds: float) -> None:  # fmt: skip
    metrics.queries.labels(interface, "ok", identity).inc()
    metrics.rows.labels(interface, identity).inc(rows)
    metrics.bytes.labels(interface, identity).inc(size)
    metrics.latency.labels(interface).observe(seconds)
    metrics.lanes.labels(interface, lane).inc()
    metrics.at_once.labels(interface).inc()


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The exposition's samples but the series' creation times (the first write's)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_folded_answers_render_as_direct_writes() -> None:
    engine = Engine(parse_config({}))
    try:
        tallied, written = Metrics(engine), Metrics(engine)
        for answer in ANSWERS:
            tallied.answered.add(*answer)
            direct(written, *answer)
        assert samples(tallied) == pytest.approx(samples(written))
        for answer in ANSWERS:  # and again after a scrape: nothing counted twice
            tallied.answered.add(*answer)
            direct(written, *answer)
        folded = samples(tallied)
        assert folded == pytest.approx(samples(written))
        inf = ("sidecar_query_duration_seconds_bucket", (("interface", "pg"), ("le", "+Inf")))
        assert folded[inf] == 8
    finally:
        engine.close()


def test_answers_from_many_threads_are_all_counted() -> None:
    engine = Engine(parse_config({}))
    try:
        metrics = Metrics(engine)

        def answer() -> None:
            for _ in range(2000):
                metrics.answered.add("flight", "agent", "key_index", 1, 10, LATENCY_BUCKETS[0])

        threads = [threading.Thread(target=answer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        text = metrics.render().decode()
        assert (
            'sidecar_queries_total{identity="agent",interface="flight",outcome="ok"} 8000.0' in text
        )
        assert 'sidecar_rows_returned_total{identity="agent",interface="flight"} 8000.0' in text
    finally:
        engine.close()
