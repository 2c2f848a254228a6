"""Generate the demo's data: one day of a web shop whose checkout broke after a deploy.

The story: on 2026-03-14 at 14:02 UTC, order-service v2.14.0 rolls out with a config change that
cuts PAYMENT_POOL_SIZE from 50 to 5. Each pod's payment client runs out of connections, checkout
requests wait 5 s for one and fail with `payment_timeout`, and the on-call engineer rolls back to
v2.13.4 at 14:41. Orders, metrics, logs and the change log are all derived from one simulation, so
every table tells the same story and they can be joined against each other.

A generator is kept (not just the files) so the story's numbers live in one place and can be
changed and rebuilt. It is reproducible: a fixed seed, no clock, no network. The runbooks in
data/guides/ are hand-written and left untouched. Run with `python -m sidecar.demo.build`.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20260314
DAY = datetime(2026, 3, 14)
MINUTES = 24 * 60
TARGET_ORDERS = 19_600
CUSTOMERS = 2_000

GOOD, BAD = "v2.13.4", "v2.14.0"
POOL_SIZE = {GOOD: 50, BAD: 5}
ACQUIRE_TIMEOUT_MS = 5_000
POOL_FILL_SECONDS = 90
TIMEOUT_SHARE = 0.80
RETRY_SHARE = 0.35
LOG_SAMPLE = 0.10
ERROR_ALERT, P99_ALERT_MS, ALERT_FOR = 0.05, 1_000.0, timedelta(minutes=5)


def at(hhmmss: str) -> datetime:
    """A wall-clock time on the incident day; every timestamp in the demo is naive UTC."""
    hours, minutes, seconds = (int(part) for part in hhmmss.split(":"))
    return DAY.replace(hour=hours, minute=minutes, second=seconds)


DEPLOY_START, DEPLOY_DONE = at("14:02:05"), at("14:04:50")
ROLLBACK_START, ROLLBACK_DONE = at("14:38:40"), at("14:41:15")
SLOW_QUERY = (at("09:14:00"), at("09:18:00"))

COUNTRIES = {  # country: (weight, region, currency)
    "US": (30, "us-east", "USD"),
    "CA": (6, "us-east", "CAD"),
    "GB": (15, "eu-west", "GBP"),
    "DE": (14, "eu-west", "EUR"),
    "FR": (10, "eu-west", "EUR"),
    "NL": (6, "eu-west", "EUR"),
    "ES": (5, "eu-west", "EUR"),
    "IT": (5, "eu-west", "EUR"),
    "AU": (6, "ap-southeast", "AUD"),
    "SG": (3, "ap-southeast", "SGD"),
}
SEGMENTS = {
    "retail": (80, 1.0, 42.0, 0.7),
    "business": (15, 2.0, 180.0, 0.8),
    "vip": (5, 4.0, 260.0, 0.6),
}
PROVIDERS = {"stripe": 60, "adyen": 25, "paypal": 15}
DECLINES = {"card_declined": 55, "insufficient_funds": 25, "fraud_suspected": 12, "expired_card": 8}
FIRST_NAMES = (
    "Ava", "Ben", "Chloe", "Daniel", "Elena", "Felix", "Grace", "Hugo", "Isla", "Jonas", "Kai",
    "Lena", "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Wei", "Xavier", "Yara", "Zoe", "Aiko", "Bruno", "Carmen", "Dmitri", "Emeka", "Freya",
    "Giulia", "Hana", "Ivan", "Julia", "Kofi", "Liam", "Maya", "Noah",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Müller", "Martin", "Rossi", "Garcia", "Jansen", "Brown", "Dubois", "Schmidt",
    "Tanaka", "Nguyen", "Silva", "Kowalski", "Johansson", "Okafor", "Patel", "Chen", "Murphy",
    "Novak", "Costa", "Lopez", "Weber", "Moreau", "Bianchi", "Fischer", "Walsh", "Kim", "Lambert",
    "Haddad", "Singh", "Ferreira", "Larsen", "Becker", "Russo", "Wagner", "Clarke", "Ito",
    "Santos", "Meyer", "Reyes",
)  # fmt: skip


@dataclass(frozen=True)
class Customer:
    customer_id: str
    name: str
    email: str
    country: str
    segment: str
    signup_date: date

    @property
    def region(self) -> str:
        return COUNTRIES[self.country][1]

    @property
    def currency(self) -> str:
        return COUNTRIES[self.country][2]


@dataclass(frozen=True)
class Pod:
    name: str
    version: str
    started: datetime

    @property
    def service(self) -> str:
        return self.name.rsplit("-", 2)[0]

    def pressure(self, when: datetime) -> float:
        """How exhausted the payment pool is (0..1): a 5-slot pool fills up within ~90 s."""
        if self.version != BAD:
            return 0.0
        return min(1.0, max(0.0, (when - self.started).total_seconds() / POOL_FILL_SECONDS))


@dataclass(frozen=True)
class Slot:
    """One replica of a Deployment: the pods that held it in turn through deploys and rollbacks."""

    pods: tuple[Pod, ...]

    def pod_at(self, when: datetime) -> Pod:
        return [pod for pod in self.pods if pod.started <= when][-1]


def _slot(old: str, new: str, back: str, deployed: str, rolled_back: str) -> Slot:
    earlier = datetime(2026, 3, 11, 15, 44)
    return Slot(
        (
            Pod(f"order-service-6d8f9b7c5-{old}", GOOD, earlier),
            Pod(f"order-service-7f4c9d2b8-{new}", BAD, at(deployed)),
            Pod(f"order-service-6d8f9b7c5-{back}", GOOD, at(rolled_back)),
        )
    )


ORDER_SLOTS = (
    _slot("2xkqp", "bq5nl", "f7gps", "14:02:40", "14:39:20"),
    _slot("9hvtz", "k8wzc", "qz3hn", "14:03:35", "14:40:10"),
    _slot("m4r7w", "t2jdx", "x9c2m", "14:04:30", "14:41:00"),
)
GATEWAY_PODS = tuple(
    Pod(f"payment-gateway-5b7d6f8c9-{suffix}", "v5.2.1", datetime(2026, 3, 12, 10, 9))
    for suffix in ("hx2lp", "w8n4k")
)


@dataclass
class Order:
    created_at: datetime
    customer: Customer
    amount: Decimal
    provider: str
    pod: Pod
    trace_id: str
    status: str = "paid"
    failure_reason: str | None = None
    order_id: str = ""


def poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: the stdlib has no Poisson, and numpy's streams are not stable across
    versions, which would make a rebuild rewrite every file."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def traffic_shape(minute: int) -> float:
    """Relative order rate: a quiet night, a European afternoon peak and a US evening bump."""
    hour = minute / 60
    return (
        3 + 19 * math.exp(-(((hour - 15) / 4.2) ** 2)) + 6 * math.exp(-(((hour - 20.5) / 1.8) ** 2))
    )


SHAPE_SCALE = TARGET_ORDERS / sum(traffic_shape(m) for m in range(MINUTES))
PEAK_RATE = max(traffic_shape(m) for m in range(MINUTES)) * SHAPE_SCALE


def order_rate(minute: int) -> float:
    return traffic_shape(minute) * SHAPE_SCALE


def weighted(rng: random.Random, table: dict[str, int]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def make_customers(rng: random.Random) -> list[Customer]:
    first_day = date(2021, 1, 1)
    span = (DAY.date() - timedelta(days=1) - first_day).days
    segments = {name: spec[0] for name, spec in SEGMENTS.items()}
    countries = {name: spec[0] for name, spec in COUNTRIES.items()}
    customers = []
    for index in range(CUSTOMERS):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        handle = f"{first}.{last}".lower().replace("ü", "ue")
        customers.append(
            Customer(
                customer_id=f"C-{10001 + index}",
                name=f"{first} {last}",
                email=f"{handle}{index + 1}@example.com",
                country=weighted(rng, countries),
                segment=weighted(rng, segments),
                signup_date=first_day + timedelta(days=rng.randrange(span)),
            )
        )
    return customers


def basket_amount(rng: random.Random, customer: Customer) -> Decimal:
    _, _, median, sigma = SEGMENTS[customer.segment]
    value = min(median * math.exp(rng.gauss(0, sigma)), 9_999.0)
    return Decimal(f"{max(value, 4.99):.2f}")


def arrivals(rng: random.Random, customers: list[Customer]) -> list[tuple[datetime, Customer]]:
    """First attempts only; retries after a failed checkout are added during the simulation."""
    cumulative, total = [], 0.0
    for customer in customers:
        total += SEGMENTS[customer.segment][1]
        cumulative.append(total)
    result = []
    for minute in range(MINUTES):
        start = DAY + timedelta(minutes=minute)
        for _ in range(poisson(rng, order_rate(minute))):
            when = start + timedelta(seconds=rng.randrange(60))
            result.append((when, rng.choices(customers, cum_weights=cumulative)[0]))
    return sorted(result, key=lambda item: (item[0], item[1].customer_id))


def settle(rng: random.Random, order: Order) -> None:
    """Decide the order's fate: mostly paid, unless its pod's payment pool is exhausted."""
    pressure = order.pod.pressure(order.created_at)
    if rng.random() < TIMEOUT_SHARE * pressure:
        order.status, order.failure_reason = "failed", "payment_timeout"
        return
    if pressure and rng.random() < 0.04:
        order.status = "pending"
        return
    draw = rng.random()
    if draw < 0.018:
        order.status, order.failure_reason = "failed", weighted(rng, DECLINES)
    elif draw < 0.043 and order.created_at < at("22:00:00"):
        order.status = "refunded"
    elif draw < 0.046 or (order.created_at >= at("23:50:00") and draw < 0.4):
        order.status = "pending"


def simulate_orders(rng: random.Random, customers: list[Customer]) -> list[Order]:
    """Replay the day in time order; a customer whose checkout timed out often tries again."""
    queue: list[tuple[datetime, str, int, Customer, Decimal | None, str | None]] = []
    for seq, (when, customer) in enumerate(arrivals(rng, customers)):
        queue.append((when, customer.customer_id, seq, customer, None, None))
    heapq.heapify(queue)
    orders, seq = [], len(queue)
    while queue:
        when, _, _, customer, amount, provider = heapq.heappop(queue)
        if when >= DAY + timedelta(days=1):
            continue
        order = Order(
            created_at=when,
            customer=customer,
            amount=amount or basket_amount(rng, customer),
            provider=provider or weighted(rng, PROVIDERS),
            pod=rng.choice(ORDER_SLOTS).pod_at(when),
            trace_id=f"{rng.getrandbits(128):032x}",
        )
        settle(rng, order)
        orders.append(order)
        if order.failure_reason == "payment_timeout" and rng.random() < RETRY_SHARE:
            retry = when + timedelta(seconds=rng.randrange(40, 300))
            seq += 1
            heapq.heappush(
                queue, (retry, customer.customer_id, seq, customer, order.amount, order.provider)
            )
    for number, order in enumerate(orders, start=1):
        order.order_id = f"ORD-{200000 + number}"
    return orders


def orders_table(orders: list[Order]) -> pa.Table:
    return pa.table(
        {
            "order_id": [o.order_id for o in orders],
            "customer_id": [o.customer.customer_id for o in orders],
            "created_at": pa.array([o.created_at for o in orders], pa.timestamp("ms")),
            "status": [o.status for o in orders],
            "amount": pa.array([o.amount for o in orders], pa.decimal128(10, 2)),
            "currency": [o.customer.currency for o in orders],
            "payment_provider": [o.provider for o in orders],
            "region": [o.customer.region for o in orders],
            "failure_reason": pa.array([o.failure_reason for o in orders], pa.string()),
        }
    )


@dataclass(frozen=True)
class Sample:
    """One pod's per-minute metrics row."""

    ts: datetime
    pod: Pod
    p50: float
    p99: float
    error_rate: float
    requests: int


def minute_of(when: datetime) -> int:
    return int((when - DAY).total_seconds() // 60)


def order_service_sample(rng: random.Random, minute: int, slot: Slot) -> Sample:
    """Latency and errors of one order-service pod; a starved payment pool also blocks the
    request threads, so reads on that pod slow down and time out too, not just checkouts."""
    ts = DAY + timedelta(minutes=minute)
    pod = slot.pod_at(ts + timedelta(seconds=30))
    load = order_rate(minute) / PEAK_RATE
    pressure = pod.pressure(ts + timedelta(seconds=30))
    warming = (ts - pod.started) < timedelta(minutes=2)
    slow_query = SLOW_QUERY[0] <= ts < SLOW_QUERY[1]
    p50 = 38 + 8 * load + rng.gauss(0, 2.5) + 2300 * pressure * rng.uniform(0.9, 1.1)
    p99 = 150 + 60 * load + rng.gauss(0, 15) + (250 if warming else 0) + (600 if slow_query else 0)
    if pressure:
        p99 = max(p99, ACQUIRE_TIMEOUT_MS * pressure + rng.uniform(20, 90))
    errors = max(0.0004, rng.gauss(0.003, 0.0012)) + 0.34 * pressure * rng.uniform(0.85, 1.15)
    requests = order_rate(minute) * 8 * (1 + 0.15 * pressure) + 30 + rng.gauss(0, 6)
    return Sample(ts, pod, round(p50, 1), round(p99, 1), round(errors, 4), max(1, round(requests)))


def gateway_sample(rng: random.Random, minute: int, pod: Pod, attempts: int) -> Sample:
    """payment-gateway stays healthy; its traffic *drops* while order-service cannot reach it,
    which is the clue that the bottleneck is on the client side."""
    ts = DAY + timedelta(minutes=minute)
    requests = attempts / len(GATEWAY_PODS) * 2.5 + 30 + rng.gauss(0, 4)
    return Sample(
        ts,
        pod,
        round(205 + rng.gauss(0, 12), 1),
        round(640 + rng.gauss(0, 45), 1),
        round(max(0.0002, rng.gauss(0.0015, 0.0006)), 4),
        max(1, round(requests)),
    )


def build_metrics(rng: random.Random, orders: list[Order]) -> list[Sample]:
    attempts = Counter(
        minute_of(o.created_at) for o in orders if o.failure_reason != "payment_timeout"
    )
    samples = []
    for minute in range(MINUTES):
        samples.extend(order_service_sample(rng, minute, slot) for slot in ORDER_SLOTS)
        samples.extend(gateway_sample(rng, minute, pod, attempts[minute]) for pod in GATEWAY_PODS)
    return samples


def metrics_table(samples: list[Sample]) -> pa.Table:
    rows = sorted(samples, key=lambda s: (s.ts, s.pod.service, s.pod.name))
    return pa.table(
        {
            "ts": pa.array([s.ts for s in rows], pa.timestamp("ms")),
            "service": [s.pod.service for s in rows],
            "pod": [s.pod.name for s in rows],
            "p50_latency_ms": pa.array([s.p50 for s in rows], pa.float64()),
            "p99_latency_ms": pa.array([s.p99 for s in rows], pa.float64()),
            "error_rate": pa.array([s.error_rate for s in rows], pa.float64()),
            "requests_per_min": pa.array([s.requests for s in rows], pa.int32()),
        }
    )


@dataclass(frozen=True)
class LogLine:
    ts: datetime
    level: str
    service: str
    pod: str
    trace_id: str | None
    message: str
    version: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "ts": self.ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "level": self.level,
                "service": self.service,
                "pod": self.pod,
                "trace_id": self.trace_id,
                "message": self.message,
                "version": self.version,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def pod_line(
    pod: Pod, when: datetime, level: str, message: str, trace: str | None = None
) -> LogLine:
    return LogLine(when, level, pod.service, pod.name, trace, message, pod.version)


def waiters(rng: random.Random, pod: Pod, when: datetime) -> int:
    return max(1, round(30 + 190 * pod.pressure(when) + rng.gauss(0, 12)))


def order_lines(rng: random.Random, orders: list[Order]) -> Iterator[LogLine]:
    """WARN and ERROR lines are complete; INFO lines for ordinary checkouts are sampled at 10%."""
    for o in orders:
        when, pod = o.created_at, o.pod
        if o.failure_reason == "payment_timeout":
            yield pod_line(
                pod,
                when + timedelta(seconds=5),
                "ERROR",
                "PaymentClient: timeout acquiring connection from pool "
                f"(pool_size={POOL_SIZE[pod.version]}, waiters={waiters(rng, pod, when)}) "
                f"order_id={o.order_id} waited_ms={ACQUIRE_TIMEOUT_MS}",
                o.trace_id,
            )
        elif o.status == "pending" and pod.pressure(when):
            yield pod_line(
                pod,
                when + timedelta(seconds=6),
                "WARN",
                f"PaymentClient: read timeout after {ACQUIRE_TIMEOUT_MS}ms, payment status "
                f"unknown; order {o.order_id} left pending for reconciliation",
                o.trace_id,
            )
        elif o.status == "failed":
            yield pod_line(
                pod,
                when,
                "WARN",
                f"Payment declined for order {o.order_id} via {o.provider}: {o.failure_reason}",
                o.trace_id,
            )
        elif rng.random() < LOG_SAMPLE:
            waited = ACQUIRE_TIMEOUT_MS * pod.pressure(when) * rng.uniform(0.3, 0.7)
            took = round(waited + rng.gauss(230, 40))
            yield pod_line(
                pod,
                when,
                "INFO",
                f"Order {o.order_id} created: {o.amount} {o.customer.currency}, "
                f"payment authorized via {o.provider} in {took}ms",
                o.trace_id,
            )


def pool_lines(rng: random.Random) -> Iterator[LogLine]:
    """Pool gauges every 10 minutes, and a warning every minute while a pool is exhausted."""
    for minute in range(MINUTES):
        when = DAY + timedelta(minutes=minute, seconds=15)
        for slot in ORDER_SLOTS:
            pod = slot.pod_at(when)
            size = POOL_SIZE[pod.version]
            if pod.pressure(when) > 0.5:
                yield pod_line(
                    pod,
                    when,
                    "WARN",
                    f"PaymentClient pool exhausted: size={size} active={size} idle=0 "
                    f"waiters={waiters(rng, pod, when)}",
                )
            elif minute % 10 == 0:
                active = min(size, max(1, round(order_rate(minute) / 3 + rng.gauss(0, 2))))
                yield pod_line(
                    pod,
                    when,
                    "INFO",
                    f"PaymentClient pool stats: size={size} active={active} "
                    f"idle={size - active} waiters=0",
                )


def gateway_lines(rng: random.Random, samples: list[Sample]) -> Iterator[LogLine]:
    """payment-gateway summaries every 10 minutes, so an agent can see it was never the problem."""
    windows: dict[tuple[str, int], list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.pod.service == "payment-gateway":
            windows[(sample.pod.name, minute_of(sample.ts) // 10)].append(sample)
    for (_, window), group in sorted(windows.items(), key=lambda item: (item[0][1], item[0][0])):
        pod = group[0].pod
        total = sum(s.requests for s in group)
        p99 = max(s.p99 for s in group)
        yield pod_line(
            pod,
            DAY + timedelta(minutes=window * 10 + 10) - timedelta(seconds=1),
            "INFO",
            f"payment requests last 10m: total={total} upstream_errors={rng.randrange(3)} "
            f"p99={p99:.0f}ms providers=stripe,adyen,paypal",
        )


def rollout_lines(kind: str, version: str, previous: str, pods: list[Pod]) -> Iterator[LogLine]:
    """Deployer events and each pod's startup banner, which prints the config it runs with."""
    deployer = Pod("deployer-5c8b7d9f4-rq6tz", "v1.8.2", DAY)
    start, done = (
        (DEPLOY_START, DEPLOY_DONE) if kind == "deploy" else (ROLLBACK_START, ROLLBACK_DONE)
    )
    who = "ci-bot (change CHG-4821)" if kind == "deploy" else "priya.n (incident INC-2041)"
    verb = "Rollout" if kind == "deploy" else "Rollback"
    yield pod_line(
        deployer, start, "INFO", f"{verb} started: order-service {previous} -> {version} by {who}"
    )
    for pod in pods:
        yield pod_line(
            pod,
            pod.started - timedelta(seconds=20),
            "INFO",
            f"Starting order-service {version} with PAYMENT_POOL_SIZE={POOL_SIZE[version]} "
            f"PAYMENT_ACQUIRE_TIMEOUT_MS={ACQUIRE_TIMEOUT_MS} DB_POOL_SIZE=20",
        )
        yield pod_line(pod, pod.started, "INFO", "Ready: listening on :8080")
    yield pod_line(
        deployer, done, "INFO", f"{verb} complete: order-service {version} 3/3 pods ready"
    )


def shutdown_lines() -> Iterator[LogLine]:
    for slot in ORDER_SLOTS:
        for before, after in itertools.pairwise(slot.pods):
            yield pod_line(
                before, after.started + timedelta(seconds=2), "INFO", "Received SIGTERM, draining"
            )


def service_health(samples: list[Sample]) -> list[tuple[datetime, float, float]]:
    """order-service per minute as the alert rules see it: weighted error rate and worst p99."""
    by_minute: dict[datetime, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.pod.service == "order-service":
            by_minute[sample.ts].append(sample)
    health = []
    for ts, group in sorted(by_minute.items()):
        requests = sum(s.requests for s in group)
        errors = sum(s.error_rate * s.requests for s in group) / requests
        health.append((ts, errors, max(s.p99 for s in group)))
    return health


def alert_lines(samples: list[Sample]) -> Iterator[LogLine]:
    """Alerts fire after a condition has held for 5 minutes and resolve 5 minutes after it
    clears, derived from the metrics so the timeline in the logs matches the dashboards."""
    manager = Pod("alertmanager-main-0", "v0.27.0", DAY)
    health = service_health(samples)
    rules = (
        ("OrderServiceHighErrorRate", 1, ERROR_ALERT, "error_rate {:.3f} > 0.05"),
        ("OrderServiceHighLatency", 2, P99_ALERT_MS, "p99 {:.0f}ms > 1000ms"),
    )
    for name, column, threshold, text in rules:
        bad = [row for row in health if row[column] > threshold]
        first, last = bad[0][0], bad[-1][0]
        value = next(row[column] for row in health if row[0] == first + ALERT_FOR)
        yield pod_line(
            manager,
            first + ALERT_FOR + timedelta(seconds=30),
            "ERROR",
            f"FIRING {name} service=order-service {text.format(value)} for 5m severity=page; "
            "paged on-call priya.n",
        )
        yield pod_line(
            manager,
            last + timedelta(minutes=1) + ALERT_FOR + timedelta(seconds=30),
            "INFO",
            f"RESOLVED {name} service=order-service",
        )


def slow_query_lines(rng: random.Random) -> Iterator[LogLine]:
    """A morning blip unrelated to the incident: not every latency bump is the outage."""
    when = SLOW_QUERY[0]
    while when < SLOW_QUERY[1]:
        pod = rng.choice(ORDER_SLOTS).pod_at(when)
        yield pod_line(
            pod,
            when,
            "WARN",
            f"OrderRepository: slow query {rng.randrange(900, 1600)}ms "
            "(orders_by_customer) while autovacuum runs on table orders",
        )
        when += timedelta(seconds=rng.randrange(25, 50))


def build_logs(rng: random.Random, orders: list[Order], samples: list[Sample]) -> list[LogLine]:
    bad_pods = [slot.pods[1] for slot in ORDER_SLOTS]
    back_pods = [slot.pods[2] for slot in ORDER_SLOTS]
    streams: Iterable[Iterable[LogLine]] = (
        order_lines(rng, orders),
        pool_lines(rng),
        gateway_lines(rng, samples),
        rollout_lines("deploy", BAD, GOOD, bad_pods),
        rollout_lines("rollback", GOOD, BAD, back_pods),
        shutdown_lines(),
        alert_lines(samples),
        slow_query_lines(rng),
    )
    lines = [line for stream in streams for line in stream]
    return sorted(lines, key=lambda line: (line.ts, line.service, line.pod, line.message))


DEPLOYS = (
    ("2026-03-10 09:12:00", "2026-03-10 09:15:30", "inventory-service", "v3.8.0", "v3.7.2",
     "deploy", "ci-bot", "CHG-4790", "Stock reservation TTL 15m -> 10m"),
    ("2026-03-11 15:40:10", "2026-03-11 15:44:00", "order-service", "v2.13.4", "v2.13.3",
     "deploy", "ci-bot", "CHG-4803", "Fix rounding of multi-currency order totals"),
    ("2026-03-12 10:05:00", "2026-03-12 10:09:00", "payment-gateway", "v5.2.1", "v5.2.0",
     "deploy", "ci-bot", "CHG-4811", "Adyen SDK 28.1 -> 28.3"),
    ("2026-03-12 16:30:00", "2026-03-12 16:33:20", "api-gateway", "v1.31.0", "v1.30.4",
     "deploy", "ci-bot", "CHG-4814", "Expose rate-limit headers to clients"),
    ("2026-03-13 11:20:00", "2026-03-13 11:24:10", "search-service", "v4.2.2", "v4.2.1",
     "deploy", "ci-bot", "CHG-4817", "Synonym list update"),
    ("2026-03-14 08:45:00", "2026-03-14 08:48:30", "inventory-service", "v3.8.1", "v3.8.0",
     "deploy", "ci-bot", "CHG-4819", "Log level cleanup"),
    (str(DEPLOY_START), str(DEPLOY_DONE), "order-service", BAD, GOOD,
     "deploy", "ci-bot", "CHG-4821",
     "PaymentClient refactor (async retries); tune payment pool settings in prod.env"),
    (str(ROLLBACK_START), str(ROLLBACK_DONE), "order-service", GOOD, BAD,
     "rollback", "priya.n", "INC-2041", "Roll back v2.14.0: checkout payment timeouts"),
)  # fmt: skip
DEPLOY_COLUMNS = (
    "started_at", "finished_at", "service", "version", "previous_version",
    "kind", "actor", "change_id", "summary",
)  # fmt: skip


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_parquet(path: Path, table: pa.Table) -> None:
    """zstd because the whole demo ships inside the wheel and has to stay small."""
    pq.write_table(table, path, compression="zstd")


def build(out_dir: Path = DATA_DIR) -> dict[str, int]:
    """Write every generated file and return row counts, for the summary printed by main()."""
    rng = random.Random(SEED)
    customers = make_customers(rng)
    orders = simulate_orders(rng, customers)
    samples = build_metrics(rng, orders)
    logs = build_logs(rng, orders, samples)
    for folder in (out_dir, out_dir / "metrics", out_dir / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    write_csv(
        out_dir / "customers.csv",
        ("customer_id", "name", "email", "country", "segment", "signup_date"),
        ((c.customer_id, c.name, c.email, c.country, c.segment, c.signup_date) for c in customers),
    )
    write_csv(out_dir / "deploys.csv", DEPLOY_COLUMNS, DEPLOYS)
    write_parquet(out_dir / "orders.parquet", orders_table(orders))
    write_parquet(out_dir / "metrics" / "services.parquet", metrics_table(samples))
    (out_dir / "logs" / "app.ndjson").write_text(
        "".join(line.to_json() + "\n" for line in logs), encoding="utf-8"
    )
    return {
        "customers": len(customers),
        "orders": len(orders),
        "metrics": len(samples),
        "logs": len(logs),
        "deploys": len(DEPLOYS),
    }


def main() -> None:
    for name, rows in build().items():
        print(f"{name:>10}: {rows} rows")
    print(f"written to {DATA_DIR}")


if __name__ == "__main__":
    main()
