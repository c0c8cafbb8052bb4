"""The base model inside a head model gets the adapter API too, working on the head model's adapters.

``AutoAdapterModel.from_config(cfg).base_model.add_adapter("x")`` (or ``model.bert.add_adapter``) works as in the
reference: the base model's class gains :class:`~adapters.model.ModelAdaptersMixin` (same name, module and
qualname) and reads the adapter registry, the runtime and the embeddings of its owner, so both objects always see
the same adapters. Methods run with the base model as ``self``: ``train_adapter`` on it freezes and trains the base
model only, ``save_adapter`` writes base-relative keys (``encoder.layer.0...``), as the reference's base models did.
"""

from __future__ import annotations

from torch import nn

from .._classes import mixed_into

__all__ = ["share_adapters_with_base_model", "SharedBaseModelMixin"]


class SharedBaseModelMixin:
    """Reads the adapter state of the head model that owns this base model (``_adapter_owner``)."""

    @property
    def adapters_config(self):
        return self._adapter_owner.adapters_config

    @property
    def _adapter_runtime(self):
        return self._adapter_owner._adapter_runtime

    def _embedding_state(self):
        return self._adapter_owner._embedding_state()


def share_adapters_with_base_model(owner: nn.Module) -> None:
    """Give ``owner.base_model`` the adapter API on ``owner``'s adapters (no-op when the owner is its own base)."""
    base = owner.base_model
    if base is owner or isinstance(base, SharedBaseModelMixin):
        return
    from ..model import ModelAdaptersMixin

    base.__class__ = mixed_into(type(base), SharedBaseModelMixin, ModelAdaptersMixin)
    object.__setattr__(base, "_adapter_owner", owner)  # a plain attribute: not a submodule, not in the state dict
