"""AdapterFusion configs: attention over the outputs of several trained adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import AdapterConfig, register_config_map

__all__ = [
    "AdapterFusionConfig",
    "StaticAdapterFusionConfig",
    "DynamicAdapterFusionConfig",
    "ADAPTERFUSION_CONFIG_MAP",
    "DEFAULT_ADAPTERFUSION_CONFIG",
]


@dataclass(eq=False)
class AdapterFusionConfig(AdapterConfig):
    """AdapterFusion (Pfeiffer et al., 2021, "AdapterFusion: Non-Destructive Task Composition for Transfer Learning").

    Fusion configs are loaded with ``AdapterFusionConfig.load()``, which resolves the identifiers of
    :data:`ADAPTERFUSION_CONFIG_MAP` (``"static"``, ``"dynamic"``) and config strings such as
    ``"dynamic[temperature=True]"``.

    Attributes:
        key: Use a learned key projection.
        query: Use a learned query projection.
        value: Use a learned value projection.
        query_before_ln: Take the query before the layer norm.
        regularization: Regularize the value projection towards the identity.
        residual_before: Add the residual before fusion instead of after.
        temperature: Anneal a softmax temperature from 50 to 1 during training.
        value_before_softmax: Apply the value projection before the softmax-weighted sum.
        value_initialized: Initialize the value projection to the identity.
        dropout_prob: Dropout on the attention scores (``None``: the model's attention dropout).
    """

    _registry_root: ClassVar[str] = "fusion"

    key: bool
    query: bool
    value: bool
    query_before_ln: bool
    regularization: bool
    residual_before: bool
    temperature: bool
    value_before_softmax: bool
    value_initialized: bool
    dropout_prob: float | None

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {"dropout_prob": (0.0, 1.0)}

    @classmethod
    def _root(cls) -> type[AdapterConfig]:
        return AdapterFusionConfig


@dataclass(eq=False)
class StaticAdapterFusionConfig(AdapterFusionConfig):
    """AdapterFusion without a value projection (Pfeiffer et al., 2021), identifier ``"static"``."""

    key: bool = True
    query: bool = True
    value: bool = False
    query_before_ln: bool = False
    regularization: bool = False
    residual_before: bool = False
    temperature: bool = False
    value_before_softmax: bool = True
    value_initialized: bool = False
    dropout_prob: float | None = None


@dataclass(eq=False)
class DynamicAdapterFusionConfig(AdapterFusionConfig):
    """AdapterFusion with a learned, regularized value projection (Pfeiffer et al., 2021), identifier ``"dynamic"``."""

    key: bool = True
    query: bool = True
    value: bool = True
    query_before_ln: bool = False
    regularization: bool = True
    residual_before: bool = False
    temperature: bool = False
    value_before_softmax: bool = True
    value_initialized: bool = True
    dropout_prob: float | None = None


ADAPTERFUSION_CONFIG_MAP: dict[str, AdapterFusionConfig] = {
    "static": StaticAdapterFusionConfig(),
    "dynamic": DynamicAdapterFusionConfig(),
}

DEFAULT_ADAPTERFUSION_CONFIG = "dynamic"

register_config_map(AdapterFusionConfig._registry_root, ADAPTERFUSION_CONFIG_MAP)
