"""The reference's ``adapters.model_mixin`` import path: the model-level mixins (re-exports).

In this library one class, :class:`~adapters.model.ModelAdaptersMixin`, carries the whole adapter API and includes
the embedding and invertible-adapter parts; the reference split them over base-model and wrapper classes, so its
``...WrapperMixin`` names refer to the same classes here.
"""

from __future__ import annotations

from .embeddings import EmbeddingAdaptersMixin
from .heads.with_heads import ModelWithHeadsAdaptersMixin
from .invertible_api import InvertibleAdaptersMixin
from .model import ModelAdaptersMixin

InvertibleAdaptersWrapperMixin = InvertibleAdaptersMixin
EmbeddingAdaptersWrapperMixin = EmbeddingAdaptersMixin

__all__ = [
    "EmbeddingAdaptersMixin",
    "EmbeddingAdaptersWrapperMixin",
    "InvertibleAdaptersMixin",
    "InvertibleAdaptersWrapperMixin",
    "ModelAdaptersMixin",
    "ModelWithHeadsAdaptersMixin",
]
