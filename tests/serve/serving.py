"""Helpers of the serving tests and of benchmarks/serve.py: saved random adapters and a live server on 127.0.0.1.

* :func:`tiny_base`: a tiny random BERT saved with MiniLM's (real) tokenizer, so inputs tokenize like real text.
* :func:`save_adapters`: adds adapters with heads to a base model, gives every adapter weight random values (so each
  adapter changes the outputs), saves each with its head into ``folder/<name>``.
* :class:`LiveServer`: uvicorn in a thread on a free port of 127.0.0.1, stopped (gracefully) on exit.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import torch

# name -> (adapter config, head kind, head kwargs)
CLASSIFY = ("seq_bn", "classification", {"num_labels": 2, "id2label": {0: "negative", 1: "positive"}})
TOPIC = ("lora", "classification", {"num_labels": 5, "id2label": dict(enumerate("abcde"))})
MULTILABEL = ("seq_bn", "classification", {"num_labels": 3, "multilabel": True, "id2label": dict(enumerate("xyz"))})
TAGGING = (
    "lora",
    "tagging",
    {"num_labels": 5, "id2label": dict(enumerate(["O", "B-per", "I-per", "B-loc", "I-loc"]))},
)
PREFIX = ("prefix_tuning[prefix_length=5]", "classification", {"num_labels": 3})
QA = ("seq_bn", "qa", {})


def _tiny_with_minilm_tokenizer(family: str, folder: Path, **overrides) -> Path:
    """The tiny random ``family`` model of tests/tiny_models.py with MiniLM's vocabulary and (real) tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    import tiny_models
    from adapters._assets import minilm_path

    config = tiny_models.config(family)
    for key, value in {"vocab_size": 30522, **overrides}.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def tiny_base(folder: Path) -> Path:
    """A tiny BERT (2 layers, hidden 32, 64 positions) that reads MiniLM's tokens, saved in ``folder``."""
    return _tiny_with_minilm_tokenizer("bert", folder)


def tiny_decoder(folder: Path) -> Path:
    """A tiny GPT-2 that reads MiniLM's tokens ([CLS]/[SEP] as bos/eos), saved in ``folder``."""
    return _tiny_with_minilm_tokenizer("gpt2", folder, bos_token_id=101, eos_token_id=102)


def save_adapters(base: Path, folder: Path, specs: dict[str, tuple], seed: int = 0) -> dict[str, Path]:
    """Save an adapter with its head for each ``name -> (config, head kind, head kwargs)``; returns their folders."""
    from adapters import AutoAdapterModel

    torch.manual_seed(seed)
    model = AutoAdapterModel.from_pretrained(base)
    paths = {}
    for name, (config, head, head_kwargs) in specs.items():
        model.add_adapter(name, config=config)
        getattr(model, f"add_{head}_head")(name, **head_kwargs)
        with torch.no_grad():
            for key, parameter in model.named_parameters():
                if f".{name}." in f".{key}." and not key.startswith("heads."):
                    parameter.normal_(0.0, 0.2)
        paths[name] = folder / name
        model.save_adapter(str(paths[name]), name, with_head=True)
    return paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """``with LiveServer(app) as url:`` runs ``app`` under uvicorn on 127.0.0.1 in a thread until the block ends."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=30
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def same_answer(a, b, tol: float = 1e-4) -> bool:
    """Whether two answers agree: equal structure and strings, floats within ``tol``."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_answer(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_answer(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    return a == b
