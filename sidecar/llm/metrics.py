"""Prometheus metrics for the models, on the sidecar's own registry (GET /metrics).

Queue depth is read at scrape time: a model with requests piling up is the first sign that an
agent asks more of its local model than two cores can give.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sidecar.llm.models import ModelService, ModelState

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ModelCollector(Collector):
    def __init__(self, models: ModelService) -> None:
        self.models = models

    def collect(self) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "sidecar_llm_queue_depth", "Requests running or waiting per model", labels=["model"]
        )
        ready = GaugeMetricFamily(
            "sidecar_llm_model_ready", "1 when the model is loaded", labels=["model"]
        )
        for entry in self.models.models.values():
            depth.add_metric([entry.name], float(entry.queue.depth))
            ready.add_metric([entry.name], 1.0 if entry.state is ModelState.READY else 0.0)
        return [depth, ready]


class LlmMetrics:
    def __init__(self, registry: CollectorRegistry, models: ModelService) -> None:
        self.requests = Counter(
            "sidecar_llm_requests",
            "Model requests by model, endpoint and outcome",
            ["model", "endpoint", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "sidecar_llm_tokens",
            "Tokens processed by model and kind (prompt, completion)",
            ["model", "kind"],
            registry=registry,
        )
        self.duration = Histogram(
            "sidecar_llm_request_duration_seconds",
            "Time to the end of a model request",
            ["model", "endpoint"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        registry.register(ModelCollector(models))

    def record(
        self, model: str, endpoint: str, outcome: str, seconds: float, usage: dict[str, int] | None
    ) -> None:
        self.requests.labels(model, endpoint, outcome).inc()
        self.duration.labels(model, endpoint).observe(seconds)
        for kind in ("prompt", "completion"):
            count = (usage or {}).get(f"{kind}_tokens", 0)
            if count:
                self.tokens.labels(model, kind).inc(count)
