"""``ModelWithHeadsAdaptersMixin``: what every model with a prediction head adds to the adapter API.

Both kinds of head models use it: transformers' static-head models made adapter-enabled with ``adapters.init``
(:class:`~adapters.heads.static.StaticHeadsMixin`) and the AdapterModel classes with flexible heads
(:class:`~adapters.heads.model_mixin.ModelWithFlexibleHeadsAdaptersMixin`). An LM head's output embedding is
usually the input embedding (tied) or plays its role, so training adapters leaves it frozen, as in the reference:
only ``train_adapter(..., train_embeddings=True)`` trains it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelWithHeadsAdaptersMixin"]


class ModelWithHeadsAdaptersMixin:
    """Freezes the output embedding when adapters (or fusions) are trained."""

    def freeze_embeddings(self, freeze: bool = True) -> None:
        """Freeze (or unfreeze) the output embedding of the model's head (weight and bias), if it has one."""
        output = self.get_output_embeddings()
        for module in output if isinstance(output, (list, tuple)) else [output]:
            if module is not None:
                for param in module.parameters():
                    param.requires_grad = not freeze

    def train_adapter(self, adapter_setup: Any, train_embeddings: bool = False) -> None:
        """As :meth:`ModelAdaptersMixin.train_adapter`; the head's output embedding is frozen, or trained with
        ``train_embeddings`` (then also after an earlier call froze it)."""
        super().train_adapter(adapter_setup, train_embeddings=train_embeddings)
        self.freeze_embeddings(not train_embeddings)

    def train_adapter_fusion(self, adapter_setup: Any, unfreeze_adapters: bool = False) -> None:
        """As :meth:`FusionMixin.train_adapter_fusion`; the head's output embedding stays frozen."""
        super().train_adapter_fusion(adapter_setup, unfreeze_adapters=unfreeze_adapters)
        self.freeze_embeddings()
