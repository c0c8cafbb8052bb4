"""Prometheus metrics of ``adapters serve`` (``GET /metrics``), in a registry of their own per server.

=========================================== =========== ==========================================================
metric                                      type        labels
=========================================== =========== ==========================================================
``adapters_serve_requests_total``           counter     ``adapter``, ``endpoint``, ``status`` (HTTP status code)
``adapters_serve_request_latency_seconds``  histogram   ``adapter``, ``endpoint`` (arrival to answer)
``adapters_serve_queue_wait_seconds``       histogram   ``adapter`` (arrival to the start of its batch)
``adapters_serve_batch_size``               histogram   (requests per batch run by the worker)
``adapters_serve_queue_depth``              gauge       (requests waiting)
``adapters_serve_adapters``                 gauge       (adapters served)
=========================================== =========== ==========================================================
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The server's metrics; the batcher reports batches and queue waits through :meth:`batch` / :meth:`queue_wait`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "adapters_serve_requests", "Requests answered", ["adapter", "endpoint", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "adapters_serve_request_latency_seconds",
            "Time from arrival to answer",
            ["adapter", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.wait = Histogram(
            "adapters_serve_queue_wait_seconds",
            "Time a request waited in the queue before its batch started",
            ["adapter"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "adapters_serve_batch_size", "Requests per batch", buckets=_BATCH_BUCKETS, registry=self.registry
        )
        self.queue_depth = Gauge("adapters_serve_queue_depth", "Requests waiting", registry=self.registry)
        self.adapters = Gauge("adapters_serve_adapters", "Adapters served", registry=self.registry)

    def batch(self, size: int) -> None:
        self.batch_size.observe(size)

    def queue_wait(self, adapter: str, seconds: float) -> None:
        self.wait.labels(adapter=adapter).observe(seconds)

    def answered(self, adapter: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(adapter=adapter, endpoint=endpoint, status=str(status)).inc()
        self.latency.labels(adapter=adapter, endpoint=endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
