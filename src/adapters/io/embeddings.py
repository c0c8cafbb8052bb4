"""Saving and loading adapter embeddings in the reference's format: ``embedding.pt`` (the weight, written with
``torch.save``) and optionally the tokenizer in ``tokenizer/``.

``embedding.pt`` is the only format the reference reads, so it is kept (there is no safetensors variant). It is
read with ``torch.load(weights_only=True)``: loading never runs code from the file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import AdapterFileNotFoundError, CheckpointError

__all__ = ["EMBEDDING_FILE", "TOKENIZER_PATH", "save_embedding", "read_embedding"]

EMBEDDING_FILE = "embedding.pt"
TOKENIZER_PATH = "tokenizer"


def save_embedding(folder: str | Path, weight: torch.Tensor, tokenizer: Any = None) -> None:
    """Write ``weight`` to ``folder/embedding.pt`` (and ``tokenizer`` to ``folder/tokenizer/``).

    The file holds a frozen ``nn.Parameter`` on the CPU, as the reference's did. It is written under its final name
    in a temporary folder (``torch.save`` names the archive inside after the file) and moved into place after the
    tokenizer was written, so a failing save leaves no new ``embedding.pt`` behind.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parameter = nn.Parameter(weight.detach().to("cpu").contiguous().clone(), requires_grad=False)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".embedding.") as staging:
        staged = Path(staging) / EMBEDDING_FILE
        torch.save(parameter, staged)
        if tokenizer is not None:
            tokenizer.save_pretrained(str(folder / TOKENIZER_PATH))
        os.replace(staged, folder / EMBEDDING_FILE)


def read_embedding(folder: str | Path) -> tuple[torch.Tensor, Any]:
    """Read ``folder/embedding.pt`` and the tokenizer saved next to it (``None`` if there is none).

    Raises:
        AdapterFileNotFoundError: ``folder`` holds no ``embedding.pt``.
        CheckpointError: the file is not a 2-D tensor.
    """
    folder = Path(folder)
    path = folder / EMBEDDING_FILE
    if not path.is_file():
        raise AdapterFileNotFoundError(f"No embeddings found at {path} (expected {EMBEDDING_FILE} in {folder}).")
    try:
        weight = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt or malicious files: report, never execute
        raise CheckpointError(f"Could not read embeddings from {path}: {error}") from None
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise CheckpointError(f"{path} must hold a 2-D embedding weight tensor, got {type(weight).__name__}.")
    tokenizer = None
    if (folder / TOKENIZER_PATH).is_dir():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder / TOKENIZER_PATH))
    return weight.detach().clone(), tokenizer
