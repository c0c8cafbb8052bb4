"""The HTTP API on a tiny BERT with six adapters (bottleneck, LoRA and prefix tuning; classification, multi-label,
tagging and QA heads), through FastAPI's TestClient; answers checked against the model run directly."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from conftest import TINY_ADAPTERS, make_engine
from fastapi.testclient import TestClient

import serving
from adapters import AdapterSetup
from adapters.serve import BatcherSettings, create_app
from adapters.serve.tasks import entity_spans

TEXT = "Barack Obama visited the Brandenburg Gate in Berlin."


@pytest.fixture(scope="module")
def client(tiny_engine):
    with TestClient(create_app(tiny_engine)) as test_client:
        yield test_client


def _direct(engine, adapter: str, *texts: str):
    """The model's output for ``texts`` (one pair = QA) with ``adapter``, without the server."""
    batch = engine.tokenizer(*texts, return_tensors="pt")
    with torch.no_grad(), AdapterSetup(adapter, head_setup=adapter):
        return engine.model(**batch)


def test_adapters_are_listed_with_method_head_task_and_labels(client):
    listed = {a["name"]: a for a in client.get("/adapters").json()}
    assert list(listed) == list(TINY_ADAPTERS)
    assert listed["sentiment"] == {
        "name": "sentiment",
        "source": listed["sentiment"]["source"],
        "method": "bottleneck",
        "head_type": "classification",
        "task": "classification",
        "labels": ["negative", "positive"],
    }
    assert (listed["topic"]["method"], listed["prefix"]["method"]) == ("lora", "prefix_tuning")
    assert listed["labels"]["task"] == "multilabel" and listed["labels"]["labels"] == ["x", "y", "z"]
    assert listed["ner"]["labels"] == ["O", "B-per", "I-per", "B-loc", "I-loc"]  # in id order
    assert listed["qa"]["task"] == "question_answering" and listed["qa"]["labels"] is None


@pytest.mark.parametrize("adapter", ["sentiment", "topic", "prefix"])
def test_classification_answers_the_models_probabilities(client, tiny_engine, adapter):
    answer = client.post("/predict", json={"adapter": adapter, "text": TEXT}).json()
    probabilities = _direct(tiny_engine, adapter, TEXT).logits[0].softmax(-1)
    labels = tiny_engine.adapters[adapter].labels
    assert answer["task"] == "classification"
    assert answer["label"] == labels[int(probabilities.argmax())]
    assert answer["scores"] == pytest.approx(dict(zip(labels, probabilities.tolist())), abs=1e-6)
    assert answer["score"] == pytest.approx(float(probabilities.max()), abs=1e-6)


def test_adapters_change_the_answer(client):
    scores = [
        client.post("/predict", json={"adapter": a, "text": TEXT}).json()["score"] for a in ("sentiment", "prefix")
    ]
    assert scores[0] != pytest.approx(scores[1], abs=1e-4)


def test_multilabel_answers_labels_at_or_above_the_threshold(client, tiny_engine):
    probabilities = _direct(tiny_engine, "labels", TEXT).logits[0].sigmoid().tolist()
    threshold = sorted(probabilities)[1]  # the two highest labels
    answer = client.post("/predict", json={"adapter": "labels", "text": TEXT, "threshold": threshold}).json()
    assert answer["scores"] == pytest.approx(dict(zip("xyz", probabilities)), abs=1e-6)
    assert answer["labels"] == [label for label, p in zip("xyz", probabilities) if p >= threshold]
    assert len(answer["labels"]) == 2


def test_tagging_answers_words_with_offsets_and_entity_spans(client, tiny_engine):
    answer = client.post("/predict", json={"adapter": "ner", "text": TEXT}).json()
    words = [t["text"] for t in answer["tokens"]]
    assert words == ["Barack", "Obama", "visited", "the", "Brandenburg", "Gate", "in", "Berlin", "."]
    assert all(TEXT[t["start"] : t["end"]] == t["text"] for t in answer["tokens"])
    logits = _direct(tiny_engine, "ner", TEXT).logits[0]
    encoding = tiny_engine.tokenizer(TEXT)
    first = [encoding.word_ids().index(w) for w in range(len(words))]
    labels = tiny_engine.adapters["ner"].labels
    assert [t["tag"] for t in answer["tokens"]] == [labels[int(logits[p].argmax())] for p in first]
    assert answer.get("entities", []) == entity_spans(answer["tokens"], TEXT)


def test_entity_spans_merge_bio_tags():
    text = "Ada Lovelace met Babbage in London"
    words = [(0, 3), (4, 12), (13, 16), (17, 24), (25, 27), (28, 34)]
    tags = ["B-per", "I-per", "O", "I-per", "O", "B-loc"]
    tokens = [{"tag": t, "start": s, "end": e, "score": 0.5} for t, (s, e) in zip(tags, words)]
    spans = [(e["type"], e["text"]) for e in entity_spans(tokens, text)]
    assert spans == [("per", "Ada Lovelace"), ("per", "Babbage"), ("loc", "London")]


def test_question_answering_answers_a_span_of_the_context(client, tiny_engine):
    question, context = "Where did he go?", "Barack Obama visited the Brandenburg Gate in Berlin last year."
    answer = client.post("/predict", json={"adapter": "qa", "question": question, "context": context}).json()
    assert answer["task"] == "question_answering"
    assert answer["answer"] == context[answer["start"] : answer["end"]] and answer["answer"]
    output = _direct(tiny_engine, "qa", question, context)
    in_context = torch.tensor([s == 1 for s in tiny_engine.tokenizer(question, context).sequence_ids()])
    start = output.start_logits[0].masked_fill(~in_context, -1e9).softmax(-1)
    end = output.end_logits[0].masked_fill(~in_context, -1e9).softmax(-1)
    pairs = (start[:, None] * end[None, :]).triu().tril(29)
    assert answer["score"] == pytest.approx(float(pairs.max()), abs=1e-6)


def test_a_mixed_batch_answers_like_single_requests(tiny_engine):
    """One run_batch over every adapter (rows of different lengths, so with padding) == each row alone."""
    from adapters.serve.schemas import PredictRequest

    bodies = [
        {"adapter": name, "text": text}
        for text in ("Great.", TEXT, "An utterly forgettable film about nothing at all")
        for name in TINY_ADAPTERS
        if name != "qa"
    ] + [{"adapter": "qa", "question": "Who?", "context": TEXT}]
    jobs = [tiny_engine.encode_predict(PredictRequest(**body)) for body in bodies]
    batched = tiny_engine.run_batch(jobs[::-1])[::-1]
    for job, answer in zip(jobs, batched):
        assert serving.same_answer(answer, tiny_engine.run_batch([job])[0], tol=1e-5), (job.adapter, answer)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"adapter": "nope", "text": "hi"}, 404, "No adapter named 'nope'"),
        ({"adapter": "sentiment"}, 422, "either 'text'"),
        ({"adapter": "sentiment", "text": "hi", "colour": "red"}, 422, "colour"),
        ({"adapter": "sentiment", "text": 3}, 422, "string"),
        ({"adapter": "qa", "text": "hi"}, 400, "send 'question' and 'context'"),
        ({"adapter": "sentiment", "question": "q?", "context": "c"}, 400, "send 'text'"),
        ({"adapter": "sentiment", "text": "word " * 80}, 413, "82 tokens; this server takes at most 64"),
    ],
)
def test_bad_requests_get_json_errors(client, body, status, says):
    response = client.post("/predict", json=body)
    assert response.status_code == status
    assert says in str(response.json()["detail"])


def test_malformed_json_is_422(client):
    response = client.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_truncation_on_request_answers_like_the_truncated_text(client, tiny_engine):
    long_text = "word " * 80
    answer = client.post("/predict", json={"adapter": "sentiment", "text": long_text, "truncate": True}).json()
    ids = tiny_engine.tokenizer(long_text, truncation=True, max_length=64)["input_ids"]
    with torch.no_grad(), AdapterSetup("sentiment", head_setup="sentiment"):
        expected = tiny_engine.model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
    assert answer["score"] == pytest.approx(float(expected.max()), abs=1e-6)


def test_generate_on_a_classifier_is_400(client):
    response = client.post("/generate", json={"adapter": "sentiment", "prompt": "hi"})
    assert response.status_code == 400 and "use POST /predict" in response.json()["detail"]


def test_load_and_unload_at_run_time(tiny_served, tmp_path):
    base, saved = tiny_served
    extra = serving.save_adapters(base, tmp_path, {"extra": serving.CLASSIFY}, seed=3)["extra"]
    engine = make_engine(base, {"sentiment": saved["sentiment"]})
    with TestClient(create_app(engine)) as client:
        loaded = client.post("/adapters", json={"name": "extra", "source": str(extra)})
        assert loaded.status_code == 201 and loaded.json()["labels"] == ["negative", "positive"]
        assert client.post("/predict", json={"adapter": "extra", "text": TEXT}).status_code == 200
        assert client.post("/adapters", json={"name": "extra", "source": str(extra)}).status_code == 409
        assert client.delete("/adapters/extra").json() == {"unloaded": "extra"}
        assert "extra" not in engine.model.adapters_config and "extra" not in engine.model.heads
        assert client.post("/predict", json={"adapter": "extra", "text": TEXT}).status_code == 404
        assert client.delete("/adapters/extra").status_code == 404
        assert [a["name"] for a in client.get("/adapters").json()] == ["sentiment"]


def test_a_failed_load_leaves_the_served_set_unchanged(tiny_served, tmp_path):
    from adapters import AutoAdapterModel

    base, saved = tiny_served
    headless = AutoAdapterModel.from_pretrained(base)
    headless.add_adapter("bare", config="seq_bn")
    headless.save_adapter(str(tmp_path / "bare"), "bare", with_head=False)
    engine = make_engine(base, {"sentiment": saved["sentiment"]})
    keys_before = set(engine.model.state_dict())
    with TestClient(create_app(engine)) as client:
        for source, says in [(tmp_path / "missing", "Cannot load adapter"), (tmp_path / "bare", "no prediction head")]:
            response = client.post("/adapters", json={"name": "new", "source": str(source)})
            assert response.status_code == 400 and says in response.json()["detail"]
        assert client.post("/adapters", json={"name": "bad name!", "source": "x"}).status_code == 422
        assert [a["name"] for a in client.get("/adapters").json()] == ["sentiment"]
    assert set(engine.model.state_dict()) == keys_before
    assert list(engine.model.adapters_config) == ["sentiment"] and list(engine.model.heads) == ["sentiment"]


def test_health_metrics_and_openapi(client):
    client.post("/predict", json={"adapter": "sentiment", "text": "fine"})
    client.post("/predict", json={"adapter": "nope", "text": "fine"})
    assert client.get("/health").json() == {"status": "ok", "adapters": len(TINY_ADAPTERS), "queued": 0}
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'adapters_serve_requests_total{adapter="sentiment",endpoint="predict",status="200"}' in text
    assert 'adapters_serve_requests_total{adapter="(unknown)",endpoint="predict",status="404"}' in text
    assert 'adapters_serve_queue_wait_seconds_count{adapter="sentiment"}' in text
    assert "adapters_serve_batch_size_count" in text and 'endpoint="predict",le="0.005"' in text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/predict", "/generate", "/adapters", "/adapters/{name}", "/health"} <= set(paths)


class _HeldEngine:
    """An engine stand-in whose batches wait for ``gate``: fills the queue for the back-pressure test."""

    max_new_tokens = 8

    def __init__(self):
        self.gate, self.started = threading.Event(), threading.Event()
        self.adapters = {"a": None}
        self.running = 0  # rows of the batch waiting at the gate

    def encode_predict(self, request):
        return request.text

    def run_batch(self, jobs):
        self.running = len(jobs)
        self.started.set()
        self.gate.wait(30)
        return [{"task": "classification", "label": job, "score": 1.0} for job in jobs]


def test_a_full_queue_answers_429_with_retry_after():
    from adapters.serve.app import create_app as build

    engine = _HeldEngine()
    engine.adapters = {"a": type("Info", (), {"task": "classification"})()}
    app = build(engine, BatcherSettings(window_s=0.0, queue_size=1, retry_after_s=3))
    with TestClient(app) as client:
        answers: dict[str, int] = {}

        def send(text):
            answers[text] = client.post("/predict", json={"adapter": "a", "text": text}).status_code

        first = threading.Thread(target=send, args=("one",))
        first.start()
        assert engine.started.wait(30)
        second = threading.Thread(target=send, args=("two",))
        second.start()
        deadline = time.monotonic() + 30
        while app.state.batcher.depth < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert app.state.batcher.depth == 1
        refused = client.post("/predict", json={"adapter": "a", "text": "three"})
        engine.gate.set()
        first.join(30), second.join(30)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
    assert "queue is full" in refused.json()["detail"]
    assert answers == {"one": 200, "two": 200}


@pytest.fixture(scope="module")
def decoder_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoder")
    base = serving.tiny_decoder(root / "base")
    saved = serving.save_adapters(base, root / "adapters", {"chat": ("lora", "causal_lm", {})})
    engine = make_engine(base, saved, max_new_tokens=6)
    with TestClient(create_app(engine)) as test_client:
        yield test_client, engine


def test_generate_greedy_equals_model_generate(decoder_client):
    client, engine = decoder_client
    answer = client.post("/generate", json={"adapter": "chat", "prompt": "the weather today", "max_new_tokens": 5})
    ids = engine.tokenizer("the weather today", return_tensors="pt", return_token_type_ids=False)
    with torch.no_grad(), AdapterSetup("chat", head_setup="chat"):
        out = engine.model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=0)
    new = out[0, ids["input_ids"].shape[1] :]
    assert answer.json() == {
        "adapter": "chat",
        "text": engine.tokenizer.decode(new, skip_special_tokens=True),
        "tokens": 5,
    }


def test_generate_sampling_with_a_seed_is_reproducible_and_bounded(decoder_client):
    client, _ = decoder_client
    body = {
        "adapter": "chat",
        "prompt": "once upon",
        "do_sample": True,
        "temperature": 1.5,
        "seed": 7,
        "max_new_tokens": 6,
    }
    first, again = (client.post("/generate", json=body).json() for _ in range(2))
    assert first == again and first["tokens"] == 6
    assert client.post("/generate", json=body | {"seed": 8}).json()["text"] != first["text"]
    too_many = client.post("/generate", json=body | {"max_new_tokens": 7})
    assert too_many.status_code == 422 and "limit 6" in too_many.json()["detail"]
    assert client.post("/generate", json=body | {"top_p": 2}).status_code == 422
    assert client.post("/predict", json={"adapter": "chat", "text": "hi"}).status_code == 400


def test_shutdown_finishes_requests_in_flight():
    """What SIGTERM does to uvicorn (should_exit) while a batch runs and more requests wait: all answered."""
    import httpx

    from adapters.serve.app import create_app as build

    engine = _HeldEngine()
    engine.adapters = {"a": type("Info", (), {"task": "classification"})()}
    app = build(engine, BatcherSettings(window_s=0.0, max_batch_size=2, timeout_s=120))
    answers: list[int] = []
    live = serving.LiveServer(app)
    with live as url:

        def send(text):
            with httpx.Client(base_url=url, timeout=60) as http:
                answers.append(http.post("/predict", json={"adapter": "a", "text": text}).status_code)

        threads = [threading.Thread(target=send, args=(str(i),)) for i in range(5)]
        for thread in threads:
            thread.start()
        assert engine.started.wait(30)
        deadline = time.monotonic() + 30
        # every request accepted (running at the gate or queued) before the server is told to stop:
        # a request still connecting when the listener closes would be refused, which is not what is tested
        while engine.running + app.state.batcher.depth < 5 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert engine.running + app.state.batcher.depth == 5
        live.server.should_exit = True
        engine.gate.set()
        for thread in threads:
            thread.join(60)
    assert answers == [200] * 5
    assert app.state.batcher.closing and not app.state.batcher._thread.is_alive()


def test_adapters_of_every_method_in_one_batch_answer_like_single_requests(tiny_served, tmp_path):
    """(IA)³ (a scaling LoRA) and ReFT share the routed forward with bottleneck and LoRA adapters."""
    from adapters.serve.schemas import PredictRequest

    base, saved = tiny_served
    extra = serving.save_adapters(
        base, tmp_path, {"scaled": ("ia3", "classification", {}), "reft": ("loreft", "tagging", {})}, seed=5
    )
    engine = make_engine(base, {"sentiment": saved["sentiment"], "topic": saved["topic"], **extra})
    jobs = [
        engine.encode_predict(PredictRequest(adapter=name, text=text))
        for text in ("Great.", TEXT)
        for name in ("scaled", "sentiment", "reft", "topic")
    ]
    for job, answer in zip(jobs, engine.run_batch(jobs)):
        assert serving.same_answer(answer, engine.run_batch([job])[0], tol=1e-5), (job.adapter, answer)


def _brute_force_cost(lengths, cost):
    """The least Σ (cost + rows · longest) over every split of the sorted lengths into consecutive groups."""
    ordered = sorted(lengths)
    best = {0: 0.0}
    for end in range(1, len(ordered) + 1):
        best[end] = min(best[start] + cost + (end - start) * ordered[end - 1] for start in range(end))
    return best[len(ordered)]


@pytest.mark.parametrize("seed", range(5))
def test_length_groups_cover_every_row_once_at_the_least_cost(seed):
    import itertools
    import random

    from adapters.serve.engine import length_groups

    rng = random.Random(seed)
    lengths = [rng.randint(1, 80) for _ in range(rng.randint(1, 7))]
    for cost in (0, 10, 96, 10_000):
        groups = length_groups(lengths, cost)
        assert sorted(itertools.chain(*groups)) == list(range(len(lengths)))
        total = sum(cost + len(g) * max(lengths[i] for i in g) for g in groups)
        assert total == pytest.approx(_brute_force_cost(lengths, cost))
    assert len(length_groups(lengths, 10_000)) == 1  # a forward dearer than any padding: one batch
    assert length_groups([], 96) == []


def test_a_batch_split_by_length_answers_like_single_requests(tiny_engine, monkeypatch):
    """Rows of very different lengths run as several forwards (a cheap forward: every length its own group)."""
    from adapters.serve import engine as engine_module
    from adapters.serve.schemas import PredictRequest

    texts = ("Great.", TEXT, "An utterly forgettable film about nothing at all", "Fine " * 30)
    jobs = [
        tiny_engine.encode_predict(PredictRequest(adapter=name, text=text))
        for text in texts
        for name in ("sentiment", "topic")
    ]
    singles = [tiny_engine.run_batch([job])[0] for job in jobs]
    calls = []
    model = tiny_engine.model
    monkeypatch.setattr(engine_module, "FORWARD_COST_TOKENS", 0)
    monkeypatch.setattr(model, "forward", _counting(model.forward, calls))
    batched = tiny_engine.run_batch(jobs[::-1])[::-1]
    assert len(calls) == len({len(job.features["input_ids"]) for job in jobs}) > 1
    for job, answer, single in zip(jobs, batched, singles):
        assert serving.same_answer(answer, single, tol=1e-5), (job.adapter, answer)


def _counting(forward, calls):
    def counted(*args, **kwargs):
        calls.append(kwargs.get("input_ids").shape)
        return forward(*args, **kwargs)

    return counted
