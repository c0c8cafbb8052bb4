"""Adapter embeddings: named input-embedding matrices a model can switch between (``EmbeddingAdaptersMixin``).

A new vocabulary (e.g. a tokenizer for another language, MAD-X 2.0) gets its own embedding with
:meth:`~EmbeddingAdaptersMixin.add_embeddings`; rows of tokens the new tokenizer shares with a reference tokenizer are
copied from the reference embedding. The active embedding *is* the model's input embedding (it is swapped in with
``set_input_embeddings``, and ``config.vocab_size`` follows it), so it is what ``save_pretrained`` stores; the others
are kept aside, outside the state dict. The original embedding is ``"default"``. ``train_adapter(...,
train_embeddings=True)`` trains the active one; :meth:`~EmbeddingAdaptersMixin.save_embeddings` writes it in the
reference's format (``embedding.pt`` + ``tokenizer/``). As in the reference, ``save_adapter`` does not save
embeddings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import AdapterExistsError, ArgumentError, CheckpointError, EmbeddingNotFoundError
from .io.atomic import atomic_save

__all__ = ["EmbeddingAdaptersMixin"]

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDING = "default"


@dataclass
class EmbeddingState:
    """The embeddings of one model: name → module (the active one is the model's input embedding)."""

    loaded: dict[str, nn.Module] = field(default_factory=dict)
    active: str = DEFAULT_EMBEDDING


def _new_embedding(rows: int, dim: int, like: nn.Module | None) -> nn.Embedding:
    """``nn.Embedding(rows, dim)`` initialised N(0, 0.02), frozen, in eval mode, on ``like``'s device/dtype."""
    weight = getattr(like, "weight", None)
    embedding = nn.Embedding(
        rows,
        dim,
        device=weight.device if weight is not None else None,
        dtype=weight.dtype if weight is not None else None,
    )
    with torch.no_grad():
        embedding.weight.normal_(mean=0.0, std=0.02)
    embedding.requires_grad_(False)
    return embedding.train(False)


class EmbeddingAdaptersMixin:
    """``add_embeddings``, ``set_active_embeddings``, ``active_embeddings``, ``save_embeddings``,
    ``load_embeddings``, ``delete_embeddings`` (mixed into every adapter-enabled model)."""

    def _embedding_state(self) -> EmbeddingState:
        state = self.__dict__.get("_adapter_embedding_state")
        if state is None:
            state = EmbeddingState()
            object.__setattr__(self, "_adapter_embedding_state", state)  # plain attribute, not a submodule
        if DEFAULT_EMBEDDING not in state.loaded and state.active == DEFAULT_EMBEDDING:
            state.loaded[DEFAULT_EMBEDDING] = self.get_input_embeddings()
        return state

    @property
    def loaded_embeddings(self) -> dict[str, nn.Module]:
        """All embeddings by name (``"default"`` is the model's original input embedding)."""
        state = self._embedding_state()
        state.loaded[state.active] = self.get_input_embeddings()
        return state.loaded

    @property
    def active_embeddings(self) -> str:
        """The name of the embedding the model currently uses."""
        return self._embedding_state().active

    def _require_embedding(self, name: str) -> nn.Module:
        loaded = self.loaded_embeddings
        if name not in loaded:
            raise EmbeddingNotFoundError(f"No embedding named {name!r}. Embeddings: {', '.join(loaded)}.")
        return loaded[name]

    def _check_new_embedding_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise EmbeddingNotFoundError(f"Embedding names must be non-empty strings, got {name!r}.")
        if name in self.loaded_embeddings:
            raise AdapterExistsError(f"An embedding named {name!r} already exists; delete it first or pick another.")

    def add_embeddings(
        self,
        name: str,
        tokenizer: Any,
        reference_embedding: str | None = None,
        reference_tokenizer: Any = None,
        embedding_dim: int | None = None,
    ) -> None:
        """Add and activate a new embedding ``name`` for ``tokenizer``'s vocabulary.

        Rows are drawn from N(0, 0.02); with ``reference_embedding`` (a loaded embedding's name, e.g. ``"default"``)
        and ``reference_tokenizer`` (its vocabulary), the rows of tokens both tokenizers know are copied from it.
        ``embedding_dim`` defaults to the config's ``embedding_size`` (else ``hidden_size``). The new embedding
        starts frozen; ``train_adapter(..., train_embeddings=True)`` trains it.

        Raises:
            AdapterExistsError: ``name`` exists.
            ArgumentError: only one of ``reference_embedding`` / ``reference_tokenizer`` was given.
            EmbeddingNotFoundError: ``reference_embedding`` is not a loaded embedding.
            CheckpointError: the reference embedding's width differs from ``embedding_dim``.
        """
        self._check_new_embedding_name(name)
        if (reference_embedding is None) != (reference_tokenizer is None):
            raise ArgumentError(
                "Reference embedding and reference tokenizer are required to initialize embeddings from a reference "
                "embedding: pass both reference_embedding= and reference_tokenizer=, or neither."
            )
        config = self.config.get_text_config()
        dim = embedding_dim or getattr(config, "embedding_size", None) or config.hidden_size
        reference = self._require_embedding(reference_embedding) if reference_embedding is not None else None
        if reference is not None and reference.weight.shape[1] != dim:
            raise CheckpointError(
                f"Reference embedding {reference_embedding!r} has width {reference.weight.shape[1]}, but the new "
                f"embedding has width {dim}; pass embedding_dim={reference.weight.shape[1]} or another reference."
            )
        embedding = _new_embedding(len(tokenizer), dim, like=self.get_input_embeddings())
        if reference is not None:
            vocab, reference_vocab = tokenizer.get_vocab(), reference_tokenizer.get_vocab()
            shared = sorted(set(vocab) & set(reference_vocab))
            rows = torch.tensor([vocab[t] for t in shared], dtype=torch.long)
            reference_rows = torch.tensor([reference_vocab[t] for t in shared], dtype=torch.long)
            with torch.no_grad():
                embedding.weight[rows.to(embedding.weight.device)] = reference.weight[
                    reference_rows.to(reference.weight.device)
                ].to(embedding.weight)
        self.loaded_embeddings[name] = embedding
        self.set_active_embeddings(name)

    def set_active_embeddings(self, name: str) -> None:
        """Make embedding ``name`` the model's input embedding (``config.vocab_size`` becomes its size)."""
        embedding = self._require_embedding(name)
        self.set_input_embeddings(embedding)
        self.config.vocab_size = embedding.num_embeddings
        self._embedding_state().active = name

    def delete_embeddings(self, name: str) -> None:
        """Remove embedding ``name``; deleting the active one switches back to ``"default"`` (with a warning)."""
        self._require_embedding(name)
        if self.active_embeddings == name == DEFAULT_EMBEDDING:
            raise ArgumentError("The active 'default' embedding cannot be deleted; activate another embedding first.")
        if self.active_embeddings == name:
            logger.warning("The active embedding is deleted. Setting the default embedding as active.")
            self.set_active_embeddings(DEFAULT_EMBEDDING)
        del self._embedding_state().loaded[name]

    @atomic_save("path", link_existing=False)  # the tokenizer may rewrite files in place
    def save_embeddings(self, path: str, name: str, tokenizer: Any = None) -> None:
        """Save embedding ``name`` to ``path/embedding.pt`` (and ``tokenizer`` to ``path/tokenizer/``)."""
        from .io.embeddings import save_embedding

        save_embedding(Path(path), self._require_embedding(name).weight, tokenizer)

    def load_embeddings(self, path: str, name: str) -> Any:
        """Load an embedding saved with :meth:`save_embeddings` (also by the reference) as ``name`` and activate it.

        Returns:
            The tokenizer saved with it, or ``None``.
        """
        from .io.embeddings import read_embedding

        self._check_new_embedding_name(name)
        weight, tokenizer = read_embedding(Path(path))
        current = self.get_input_embeddings().weight
        embedding = nn.Embedding.from_pretrained(weight.to(device=current.device, dtype=current.dtype), freeze=True)
        self.loaded_embeddings[name] = embedding.train(False)
        self.set_active_embeddings(name)
        return tokenizer
