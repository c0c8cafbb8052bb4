"""Benchmark: ``adapters serve`` with mixed traffic over 8 adapters on the real MiniLM, three ways.

* ``batched``: the server as shipped (dynamic batching, ``--max-batch-size 32 --batch-window-ms 5``): requests for
  different adapters that arrive together run as one batch.
* ``one-at-a-time``: the same server with ``--max-batch-size 1``: every request is its own forward.
* ``switching``: one request at a time, and each switches the model's active adapter
  (``model.set_active_adapters(name)``, the way a single-adapter server would be written), then runs.

Each server runs in a subprocess of this script on 127.0.0.1; ``--clients`` closed-loop clients (threads) send
``--requests`` review snippets (Rotten Tomatoes) to adapters drawn at random (seeded), after ``--warmup`` requests.
Reported per mode: throughput (requests/s), p50 and p99 latency, mean batch size (from ``/metrics``), and the
machine's load average (the machine is shared; figures move with it). Adapter weights are random (speed does not
depend on them). Target: batched ≥ 3× the one-at-a-time throughput at equal or lower p99.

Run: ``.venv/bin/python benchmarks/serve.py [--requests 800] [--clients 16] [--rounds 1]``.

Measured on the 2-core development machine with nothing else running (2026-11-30; CPU, torch 2 threads; the
clients share the two cores with the server), 16 clients, 800 requests:

====================  ==========================  ==========================  ==========================
run                   batched                     one-at-a-time               switching
====================  ==========================  ==========================  ==========================
routed, one forward   55.5 req/s, p99 455 ms      41.5 req/s, p99 511 ms      (failed: fixed since)
  (load 1.3-1.6)      (p50 275, mean batch 8.0)   (p50 373)
split by length       55.4 req/s, p99 387 ms      45.3 req/s, p99 442 ms      44.7 req/s, p99 425 ms
  (make bench)        (p50 279, mean batch 7.9)   (p50 342)                   (p50 350)
====================  ==========================  ==========================  ==========================

Batched: 1.22-1.34x the one-at-a-time throughput at a 0.88-0.89x p99; the 3x target is not reached. In process
(``run_rows`` on the real MiniLM, 8 adapters) a row costs 16.8 ms alone, 11.8 ms in a padded batch of 16 mixed
lengths, 10.6 ms split by length, 8.4 ms in a batch of 16 equal lengths; the bare transformers model runs 16 equal
single rows 2.4x slower than one batch of them. docs/performance.md has the analysis.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serve"))

import serving  # noqa: E402  (tests/serve/serving.py: saved random adapters, free ports)

# 8 adapters: bottleneck, LoRA family, prefix tuning; classification heads of 2-5 labels
ADAPTERS = {
    "sentiment": ("seq_bn", "classification", {"num_labels": 2}),
    "topic": ("lora", "classification", {"num_labels": 5}),
    "spam": ("prefix_tuning[prefix_length=10]", "classification", {"num_labels": 2}),
    "toxicity": ("ia3", "classification", {"num_labels": 2}),
    "emotion": ("double_seq_bn", "classification", {"num_labels": 4}),
    "intent": ("lora[r=16]", "classification", {"num_labels": 5}),
    "formality": ("par_bn", "classification", {"num_labels": 2}),
    "language": ("seq_bn[reduction_factor=32]", "classification", {"num_labels": 3}),
}
MODES = {
    "batched": ["--max-batch-size", "32", "--batch-window-ms", "5"],
    "one-at-a-time": ["--max-batch-size", "1", "--batch-window-ms", "0"],
    "switching": ["--max-batch-size", "1", "--batch-window-ms", "0"],
}


def _switching_engine(engine):
    """Replace ``run_batch`` by one that activates each request's adapter on the model, then runs it alone."""
    from adapters.serve.engine import _row_outputs, pad_rows

    def run_batch(jobs):
        results = []
        for job in jobs:
            engine.model.set_active_adapters(job.adapter)
            engine.model.active_head = job.adapter
            with torch.no_grad():
                output = engine.model(**pad_rows([job.features], engine.pad_token_id))
            row = _row_outputs(output, len(job.features["input_ids"]))
            results.append(engine._decode(job, row))
        return results

    engine.run_batch = run_batch
    return engine


def serve(args: argparse.Namespace) -> None:
    """The server side (a subprocess): the real CLI, or the switching engine behind the same app."""
    if args.server != "switching":
        from adapters.cli import main

        sys.exit(main(["serve", args.model, "--port", str(args.port), "--log-level", "warning", *args.rest]))
    import uvicorn

    from adapters.serve import BatcherSettings, Engine, create_app

    engine = Engine.from_pretrained(args.model)
    for item in args.rest:
        if "=" in item:
            name, source = item.split("=", 1)
            engine.load(name, source)
    app = create_app(_switching_engine(engine), BatcherSettings(max_batch_size=1, window_s=0.0))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


def _start(mode: str, model: str, adapters: dict[str, Path]) -> tuple[subprocess.Popen, str]:
    port = serving.free_port()
    rest = [arg for name, path in adapters.items() for arg in ("--adapter", f"{name}={path}")] + MODES[mode]
    if mode == "switching":
        rest = [f"{name}={path}" for name, path in adapters.items()]
    command = [sys.executable, __file__, "--server", mode, "--port", str(port), "--model", model, "--", *rest]
    process = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the {mode} server did not start")


def _load(url: str, bodies: list[dict], clients: int) -> tuple[float, list[float], int]:
    """Send every body from ``clients`` closed-loop threads; (wall seconds, latencies, non-200 answers)."""
    latencies: list[float] = []
    failures = [0]
    cursor = iter(range(len(bodies)))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                start = time.perf_counter()
                status = http.post("/predict", json=bodies[index]).status_code
                with lock:
                    latencies.append(time.perf_counter() - start)
                    failures[0] += status != 200

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies, failures[0]


def _mean_batch(url: str) -> float:
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("adapters_serve_batch_size_"):
            name, value = line.split()
            values[name] = float(value)
    return values["adapters_serve_batch_size_sum"] / max(values["adapters_serve_batch_size_count"], 1)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Run every mode ``args.rounds`` times; print a line per run and the comparison, and return the medians per
    mode: ``{"batched": {"rps": ..., "p50_ms": ..., "p99_ms": ...}, ...}``."""
    from adapters._assets import minilm_path, rotten_tomatoes

    model = str(minilm_path())
    folder = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    adapters = serving.save_adapters(minilm_path(), folder, ADAPTERS)
    rng = random.Random(0)
    texts = [text for text, _ in rotten_tomatoes(args.requests + args.warmup, seed=2)]
    bodies = [{"adapter": rng.choice(list(ADAPTERS)), "text": text} for text in texts]
    print(
        f"MiniLM-L6, 8 adapters, {args.requests} requests from {args.clients} clients; torch threads "
        f"{torch.get_num_threads()}; {os.cpu_count()} cores"
    )
    print(f"{'mode':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} {'fail':>5}  load average")
    results: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            process, url = _start(mode, model, adapters)
            try:
                _load(url, bodies[: args.warmup], args.clients)
                before = _mean_batch(url) if mode == "batched" else 1.0
                wall, latencies, failed = _load(url, bodies[args.warmup :], args.clients)
                batch = _mean_batch(url) if mode == "batched" else before
            finally:
                process.terminate()
                process.wait(60)
            figures = (len(latencies) / wall, _percentile(latencies, 0.5) * 1e3, _percentile(latencies, 0.99) * 1e3)
            results[mode].append(figures)
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"{mode:<14} {figures[0]:8.1f} {figures[1]:8.1f} {figures[2]:8.1f} {batch:6.1f} {failed:5d}  {load}")
    med = {mode: [statistics.median(f[i] for f in rows) for i in range(3)] for mode, rows in results.items()}
    for other in ("one-at-a-time", "switching"):
        speedup = med["batched"][0] / med[other][0]
        p99 = "lower" if med["batched"][2] <= med[other][2] else "higher"
        print(
            f"batched vs {other}: {speedup:.2f}x throughput, p99 {med['batched'][2]:.0f} vs {med[other][2]:.0f} ms "
            f"({p99})"
        )
    return {mode: dict(zip(("rps", "p50_ms", "p99_ms"), figures)) for mode, figures in med.items()}


def serving_results(requests: int = 800, clients: int = 16, rounds: int = 1) -> dict[str, dict]:
    """The ``serving`` group of ``make bench`` (benchmarks/run.py): throughput and latency ratios of the batched
    server to answering one request at a time and to switching the active adapter per request."""
    args = argparse.Namespace(requests=requests, clients=clients, warmup=64, rounds=rounds)
    med = bench(args)
    results: dict[str, dict] = {}
    for other, key in (("one-at-a-time", "one_at_a_time"), ("switching", "switching")):
        results[f"serving/throughput_vs_{key}"] = {"value": med["batched"]["rps"] / med[other]["rps"], "unit": "x"}
        results[f"serving/p99_vs_{key}"] = {"value": med["batched"]["p99_ms"] / med[other]["p99_ms"], "unit": "x"}
    for mode, figures in med.items():
        for figure, unit in (("rps", "req/s"), ("p50_ms", "ms"), ("p99_ms", "ms")):
            results[f"serving/{mode.replace('-', '_')}/{figure}"] = {"value": figures[figure], "unit": unit}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--server", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    serve(args) if args.server else bench(args)


if __name__ == "__main__":
    main()
