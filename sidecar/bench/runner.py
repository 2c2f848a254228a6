"""Concurrent agents and the measurement window of one run (one arm, one agent count).

Each agent is a thread with one connection, looping the workload: pick a query by weight, draw
its parameters, send it, receive every row, think (if asked), repeat. Threads suffice: every
client used waits for the network with the GIL released.

A run goes: the agents connect and, with a warm-up, send each statement of the workload once
(`primed_s`: the slowest agent's time for that); the replica's counters are read; all agents
start at once and loop for `duration`; queries that start in the first `warmup` seconds are
left out of QPS and latency; at the end each agent finishes its query and disconnects, and
after `settle` the counters are read again. The counters therefore span the whole run, warm-up
included, and are divided by the queries the agents sent over that same span.

Priming is what a time-based warm-up cannot do: a statement's first query pays once for what
every later one reuses (plan caches, a connection's first use, code loaded on first need), and
an agent still inside it when the warm-up ends leaves the measured window without queries (at
load average 10 one agent's first query outlasted a whole 1 s run). `--warmup 0s` measures
from the first query, cold.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sidecar.bench.clients import Client, ClientFactory, error_kind
from sidecar.bench.replica import Reading, Replica, ReplicaError, first_line, summary
from sidecar.bench.workload import Mix

ERROR_PAUSE = 0.05  # after a failure, so a dead server is not hammered by a busy loop
STOP_GRACE = 30.0
TICK = 0.2
RECENT = 200
UNFINISHED = "unfinished at the end of the run"


class Process(Protocol):
    """What the runner reads about the sidecar's process (None for the direct arm)."""

    def cpu_seconds(self) -> float: ...

    def rss(self) -> int: ...


@dataclass
class RunSpec:
    arm: str
    interface: str
    agents: int
    duration: float
    warmup: float
    think: float
    settle: float
    seed: int


@dataclass
class AgentLog:
    """One agent's record; written only by its own thread, read by the coordinator."""

    latencies: list[float] = field(default_factory=list)
    by_query: dict[str, list[float]] = field(default_factory=dict)
    rows: int = 0
    sent: int = 0
    primed: float = 0.0
    closed: int = 0
    last_end: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    query_errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def failed(self, kind: str, error: BaseException, query: str | None = None) -> None:
        self.errors[kind] += 1
        if query is not None:
            self.query_errors[query] += 1
        self.samples.setdefault(kind, first_line(error)[:300])


@dataclass
class Clock:
    connected: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    go: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    measure_from: float = float("inf")


@dataclass
class Progress:
    """What the live line shows, refreshed every tick."""

    spec: RunSpec
    phase: str
    elapsed: float
    queries: int
    qps: float
    p99_ms: float | None
    errors: int


def agent(
    log: AgentLog,
    factory: ClientFactory,
    mix: Mix,
    rng: random.Random,
    clock: Clock,
    think: float,
    prime: bool,
) -> None:
    client: Client | None = None
    try:
        client = factory()
    except Exception as error:
        log.failed(f"connect: {error_kind(error)}", error)
    if client is not None and prime:
        client = _prime(client, log, mix, rng)
    clock.connected.release()
    clock.go.wait()
    while not clock.stop.is_set():
        if client is None:
            try:
                client = factory()
            except Exception as error:
                log.failed(f"connect: {error_kind(error)}", error)
                clock.stop.wait(ERROR_PAUSE)
                continue
        statement = mix.pick(rng)
        sql = statement.render(rng)
        started = time.perf_counter()
        try:
            rows = client.execute(sql)
        except Exception as error:
            log.sent += 1
            log.failed(error_kind(error), error, statement.name)
            if not _healthy(client):
                _close(client)
                log.closed += 1
                client = None
            clock.stop.wait(ERROR_PAUSE)
            continue
        ended = time.perf_counter()
        elapsed = ended - started
        log.sent += 1
        if started >= clock.measure_from:
            log.last_end = ended
            log.latencies.append(elapsed)
            log.by_query.setdefault(statement.name, []).append(elapsed)
            log.rows += rows
        if think:
            clock.stop.wait(think)
    if client is not None:
        _close(client)
        log.closed += 1


def _prime(client: Client, log: AgentLog, mix: Mix, rng: random.Random) -> Client | None:
    """Each statement once, before the replica's counters are read: not sent in the run's
    sense, but a failure is counted, so a statement that cannot work shows before the run."""
    started = time.perf_counter()
    for statement in mix.statements:
        try:
            client.execute(statement.render(rng))
        except Exception as error:
            log.failed(error_kind(error), error, statement.name)
            if not _healthy(client):
                _close(client)
                return None
    log.primed = time.perf_counter() - started
    return client


def _healthy(client: Client) -> bool:
    try:
        return client.healthy()
    except Exception:
        return False


def _close(client: Client) -> None:
    try:
        client.close()
    except Exception:
        return


def run(
    spec: RunSpec,
    factory: ClientFactory,
    mix: Mix,
    replica: Replica | None,
    process: Process | None,
    on_progress: Callable[[Progress], None],
) -> dict[str, Any]:
    logs = [AgentLog() for _ in range(spec.agents)]
    clock = Clock()
    threads = [
        threading.Thread(
            target=agent,
            args=(
                log,
                factory,
                mix,
                random.Random(spec.seed * 1000 + index),
                clock,
                spec.think,
                spec.warmup > 0,
            ),
            name=f"bench-agent-{index}",
            daemon=True,
        )
        for index, log in enumerate(logs)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for _ in threads:
        clock.connected.acquire(timeout=max(0.0, deadline - time.monotonic()))
    on_progress(Progress(spec, "reading counters", 0.0, 0, 0.0, None, 0))
    before, replica_error = _read(replica)
    cpu_before = process.cpu_seconds() if process else 0.0
    client_before = _own_cpu()
    peak_rss = process.rss() if process else 0
    start = time.perf_counter()
    clock.measure_from = start + spec.warmup
    clock.go.set()
    while (now := time.perf_counter()) < start + spec.duration:
        if process:
            peak_rss = max(peak_rss, _safe_rss(process))
        on_progress(_progress(spec, logs, clock, start, now))
        time.sleep(min(TICK, max(0.0, start + spec.duration - now)))
    clock.stop.set()
    stopped = time.perf_counter()
    grace = time.monotonic() + STOP_GRACE
    for thread in threads:
        thread.join(timeout=max(0.0, grace - time.monotonic()))
    unfinished = sum(thread.is_alive() for thread in threads)
    cpu = (process.cpu_seconds() - cpu_before) if process else None
    client_cpu = _own_cpu() - client_before
    if process:
        peak_rss = max(peak_rss, _safe_rss(process))
    if spec.settle and replica is not None:
        on_progress(Progress(spec, f"settling {spec.settle:g}s", spec.duration, 0, 0.0, None, 0))
        time.sleep(spec.settle)
    after, error_after = _read(replica) if before is not None else (None, None)
    replica_error = replica_error or error_after
    window = max(stopped, *(log.last_end for log in logs)) - clock.measure_from
    return _figures(spec, logs, window, unfinished, replica, before, after, replica_error) | {
        "sidecar": None
        if process is None
        else {
            "cpu_seconds": cpu,
            "peak_rss_bytes": peak_rss,
        },
        "client_cpu_seconds": client_cpu,
    }


def _read(replica: Replica | None) -> tuple[Reading | None, str | None]:
    if replica is None:
        return None, None
    try:
        return replica.read(), None
    except ReplicaError as error:
        return None, str(error)


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _safe_rss(process: Process) -> int:
    try:
        return process.rss()
    except Exception:
        return 0


def _progress(
    spec: RunSpec, logs: list[AgentLog], clock: Clock, start: float, now: float
) -> Progress:
    errors = sum(sum(log.errors.values()) for log in logs)
    if now < clock.measure_from:
        return Progress(spec, "warm-up", now - start, 0, 0.0, None, errors)
    queries = sum(len(log.latencies) for log in logs)
    recent = [value for log in logs for value in log.latencies[-RECENT:]]
    p99 = float(np.percentile(recent, 99)) * 1000 if recent else None
    qps = queries / max(now - clock.measure_from, 1e-9)
    return Progress(spec, "measuring", now - start, queries, qps, p99, errors)


def latency_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p95": None, "p99": None, "max": None}
    array = np.asarray(values) * 1000.0
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "mean": float(array.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(array.max()),
    }


def _figures(
    spec: RunSpec,
    logs: list[AgentLog],
    window: float,
    unfinished: int,
    replica: Replica | None,
    before: Reading | None,
    after: Reading | None,
    replica_error: str | None,
) -> dict[str, Any]:
    latencies = [value for log in logs for value in log.latencies]
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}
    query_errors: Counter[str] = Counter()
    by_query: dict[str, list[float]] = {}
    for log in logs:
        errors.update(log.errors)
        query_errors.update(log.query_errors)
        for kind, text in log.samples.items():
            samples.setdefault(kind, text)
        for name, values in log.by_query.items():
            by_query.setdefault(name, []).extend(values)
    if unfinished:
        errors[UNFINISHED] += unfinished
        samples[UNFINISHED] = f"{unfinished} agent(s) still waiting {STOP_GRACE:g}s after the end"
    rows = sum(log.rows for log in logs)
    sent = sum(log.sent for log in logs)
    # A direct agent's goodbye (MySQL's COM_QUIT) is a statement the replica counts; the
    # benchmark's, not the workload's. A sidecar's own connections are the sidecar's load.
    disconnects = sum(log.closed for log in logs) if spec.arm == "direct" else 0
    delta = replica.delta(before, after, disconnects) if replica and before and after else None
    return {
        "arm": spec.arm,
        "interface": "direct" if spec.arm == "direct" else spec.interface,
        "agents": spec.agents,
        "duration_s": spec.duration,
        "warmup_s": spec.warmup,
        "window_s": window,
        "queries": len(latencies),
        "qps": len(latencies) / window if window > 0 else 0.0,
        "rows": rows,
        "rows_per_s": rows / window if window > 0 else 0.0,
        "latency_ms": latency_ms(latencies),
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "error_samples": samples,
        "by_query": {
            name: {"queries": len(by_query.get(name, [])), "errors": query_errors.get(name, 0)}
            | {
                f"{key}_ms": value
                for key, value in latency_ms(by_query.get(name, [])).items()
                if key in ("p50", "p99")
            }
            for name in sorted(set(by_query) | set(query_errors))
        },
        "agent_queries": sent,
        "primed_s": max(log.primed for log in logs),
        "replica": summary(delta, sent) | {"error": replica_error},
    }
