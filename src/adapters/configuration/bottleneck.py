"""Bottleneck adapter configs: sequential, parallel, Compacter, Adapter+ and their invertible variants.

A bottleneck adapter is a down-projection, a non-linearity and an up-projection inserted after the attention block
(``mh_adapter``) and/or the feed-forward block (``output_adapter``) of each layer. The presets differ in where the
adapter sits relative to the layer norms and residuals, and in size (``reduction_factor``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import ConfigKeyError
from .base import AdapterConfig

__all__ = [
    "BnConfig",
    "SeqBnConfig",
    "SeqBnInvConfig",
    "CompacterPlusPlusConfig",
    "DoubleSeqBnConfig",
    "DoubleSeqBnInvConfig",
    "CompacterConfig",
    "ParBnConfig",
    "AdapterPlusConfig",
]


_REDUCTION_FACTOR_SHAPE = (
    "a positive number or a mapping from layer index (as a string, or 'default') to number, "
    "e.g. {'default': 16, '0': 8}"
)


@dataclass(eq=False)
class BnConfig(AdapterConfig):
    """Base bottleneck adapter config (Houlsby et al., 2019, "Parameter-Efficient Transfer Learning for NLP").

    Attributes:
        mh_adapter: Add an adapter after the multi-head attention block of each layer.
        output_adapter: Add an adapter after the feed-forward block of each layer.
        reduction_factor: Hidden size divided by bottleneck size. Either a number, or a mapping from layer index
            (as a string) to number, usually with a ``"default"`` entry, e.g. ``{"0": 8, "default": 16}``. A mapping
            without ``"default"`` must name every layer that gets an adapter (``add_adapter`` raises otherwise).
        non_linearity: Name of the activation function (``None``: identity).
        original_ln_before: Apply the model's layer norm (on output + residual) before the adapter.
        original_ln_after: Apply the model's layer norm (on output + residual) after the adapter.
        ln_before: Add a new layer norm before the adapter.
        ln_after: Add a new layer norm after the adapter.
        init_weights: Weight initialization: ``"bert"``, ``"mam_adapter"`` or ``"houlsby"``.
        init_weights_seed: Seed for initializing the adapter weights (``None``: not seeded).
        is_parallel: Apply the adapter in parallel to the sub-block instead of after it.
        scaling: Scaling of the adapter output: a number, ``"learned"`` (one learned scalar) or ``"channel"``
            (a learned vector).
        use_gating: Add a learned gate on the adapter output.
        residual_before_ln: Take the residual before the layer norm (``True``), after it (``False``) or after
            the residual addition (``"post_add"``).
        adapter_residual_before_ln: Take the adapter's residual before the new layer norm.
        inv_adapter: Invertible adapter on the embeddings: ``"nice"``, ``"glow"`` or ``None``.
        inv_adapter_reduction_factor: Reduction factor of the invertible adapter.
        cross_adapter: Add an adapter after the cross-attention block (encoder-decoder models).
        leave_out: Layer indices in which no adapter is added.
        dropout: Dropout on the adapter output.
        phm_layer: Use parameterized hypercomplex multiplication layers (Compacter) for the projections.
        phm_dim: Number of PHM summands (the ``n`` of the paper).
        factorized_phm_W: Factorize the PHM weight matrices into rank-``phm_rank`` products.
        shared_W_phm: Share the PHM weight matrices across layers.
        shared_phm_rule: Share the PHM rule matrices across layers.
        factorized_phm_rule: Factorize the PHM rule matrices.
        phm_c_init: Initialization of the rule matrices: ``"normal"`` or ``"uniform"``.
        phm_init_range: Standard deviation / range of the PHM initialization.
        learn_phm: Train the PHM rule matrices.
        hypercomplex_nonlinearity: Initialization of the PHM weights (e.g. ``"glorot-uniform"``).
        phm_rank: Rank of the factorized PHM weights.
        phm_bias: Add a bias to PHM layers.
        stochastic_depth: Drop-path rate on the adapter output.
    """

    mh_adapter: bool
    output_adapter: bool
    reduction_factor: float | Mapping[str, float]
    non_linearity: str | None
    original_ln_before: bool = False
    original_ln_after: bool = True
    ln_before: bool = False
    ln_after: bool = False
    init_weights: Literal["bert", "mam_adapter", "houlsby"] = "bert"
    init_weights_seed: int | None = None
    is_parallel: bool = False
    scaling: float | Literal["learned", "channel"] = 1.0
    use_gating: bool = False
    residual_before_ln: bool | Literal["post_add"] = True
    adapter_residual_before_ln: bool = False
    inv_adapter: Literal["nice", "glow"] | None = None
    inv_adapter_reduction_factor: float | None = None
    cross_adapter: bool = False
    leave_out: list[int] = field(default_factory=list)
    dropout: float = 0.0
    phm_layer: bool = False
    phm_dim: int = 4
    factorized_phm_W: bool | None = True
    shared_W_phm: bool = False
    shared_phm_rule: bool = True
    factorized_phm_rule: bool = False
    phm_c_init: Literal["normal", "uniform"] = "normal"
    phm_init_range: float = 0.0001
    learn_phm: bool = True
    hypercomplex_nonlinearity: str = "glorot-uniform"
    phm_rank: int = 1
    phm_bias: bool = True
    stochastic_depth: float = 0.0

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "dropout": (0.0, 1.0),
        "stochastic_depth": (0.0, 1.0),
        "phm_dim": (1, None),
        "phm_rank": (1, None),
        "inv_adapter_reduction_factor": (0, None),
    }
    _expected: ClassVar[dict[str, str]] = {"reduction_factor": _REDUCTION_FACTOR_SHAPE}

    def _check(self, invalid: frozenset[str]) -> list[str]:
        problems = []
        rf = self.reduction_factor
        if "reduction_factor" not in invalid:
            problems += _reduction_factor_problems(rf)
        if self.inv_adapter is not None and self.inv_adapter_reduction_factor is None and "inv_adapter" not in invalid:
            problems.append("inv_adapter_reduction_factor: must be set when inv_adapter is set")
        return problems

    def reduction_factor_for(self, layer_index: int) -> float:
        """The reduction factor of layer ``layer_index`` (global index): the mapping's entry for it, else its
        ``"default"``.

        Raises:
            ConfigKeyError: the mapping has neither (a ``KeyError``, as in the reference).
        """
        rf = self.reduction_factor
        if not isinstance(rf, Mapping):
            return rf
        if str(layer_index) in rf:
            return rf[str(layer_index)]
        if "default" in rf:
            return rf["default"]
        raise ConfigKeyError(
            f"reduction_factor mapping {dict(rf)} has no entry for layer {layer_index} and no 'default' key; add "
            f"one, e.g. {{'{layer_index}': 16}} or {{'default': 16}}, or leave the layer out with leave_out=[...]."
        )

    @classmethod
    def _upgrade_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        # adapter-transformers v1 stored the invertible adapter as a nested dict.
        legacy = config.pop("invertible_adapter", None)
        if isinstance(legacy, Mapping) and legacy:
            config["inv_adapter"] = legacy.get("block_type")
            config["inv_adapter_reduction_factor"] = legacy.get("reduction_factor")
        return config


def _reduction_factor_problems(rf: float | Mapping[str, float]) -> list[str]:
    if not isinstance(rf, Mapping):
        return [] if rf > 0 else [f"reduction_factor: expected {_REDUCTION_FACTOR_SHAPE}, got {rf!r}"]
    problems = []
    bad_keys = [k for k in rf if k != "default" and not k.isdigit()]
    if bad_keys:
        problems.append(f"reduction_factor: invalid key(s) {bad_keys!r} in {rf!r}; expected {_REDUCTION_FACTOR_SHAPE}")
    if any(v <= 0 for v in rf.values()):
        problems.append(f"reduction_factor: values must be positive, got {rf!r}")
    return problems


@dataclass(eq=False)
class SeqBnConfig(BnConfig):
    """Sequential bottleneck adapter after the feed-forward block only (Pfeiffer et al., 2020, "AdapterFusion")."""

    original_ln_before: bool = True
    original_ln_after: bool = True
    residual_before_ln: bool | Literal["post_add"] = True
    adapter_residual_before_ln: bool = False
    ln_before: bool = False
    ln_after: bool = False
    mh_adapter: bool = False
    output_adapter: bool = True
    non_linearity: str | None = "relu"
    reduction_factor: float | Mapping[str, float] = 16


@dataclass(eq=False)
class SeqBnInvConfig(SeqBnConfig):
    """Sequential adapter plus a NICE invertible adapter on the embeddings (Pfeiffer et al., 2020, MAD-X)."""

    inv_adapter: Literal["nice", "glow"] | None = "nice"
    inv_adapter_reduction_factor: float | None = 2


@dataclass(eq=False)
class CompacterPlusPlusConfig(SeqBnConfig):
    """Compacter++: PHM-layer adapter after the feed-forward block only (Mahabadi et al., 2021, "Compacter")."""

    phm_layer: bool = True
    reduction_factor: float | Mapping[str, float] = 32
    non_linearity: str | None = "gelu"


@dataclass(eq=False)
class DoubleSeqBnConfig(BnConfig):
    """Bottleneck adapters after both the attention and the feed-forward block (Houlsby et al., 2019)."""

    original_ln_before: bool = False
    original_ln_after: bool = True
    residual_before_ln: bool | Literal["post_add"] = True
    adapter_residual_before_ln: bool = False
    ln_before: bool = False
    ln_after: bool = False
    mh_adapter: bool = True
    output_adapter: bool = True
    non_linearity: str | None = "swish"
    reduction_factor: float | Mapping[str, float] = 16


@dataclass(eq=False)
class DoubleSeqBnInvConfig(DoubleSeqBnConfig):
    """Houlsby adapters plus a NICE invertible adapter on the embeddings (Pfeiffer et al., 2020, MAD-X)."""

    inv_adapter: Literal["nice", "glow"] | None = "nice"
    inv_adapter_reduction_factor: float | None = 2


@dataclass(eq=False)
class CompacterConfig(DoubleSeqBnConfig):
    """Compacter: PHM-layer adapters after attention and feed-forward blocks (Mahabadi et al., 2021)."""

    phm_layer: bool = True
    reduction_factor: float | Mapping[str, float] = 32
    non_linearity: str | None = "gelu"


@dataclass(eq=False)
class ParBnConfig(BnConfig):
    """Parallel bottleneck adapter next to the feed-forward block (He et al., 2022, "Towards a Unified View")."""

    original_ln_before: bool = False
    original_ln_after: bool = True
    residual_before_ln: bool | Literal["post_add"] = True
    ln_before: bool = False
    ln_after: bool = False
    mh_adapter: bool = False
    output_adapter: bool = True
    non_linearity: str | None = "relu"
    reduction_factor: float | Mapping[str, float] = 2
    init_weights: Literal["bert", "mam_adapter", "houlsby"] = "mam_adapter"
    is_parallel: bool = True
    scaling: float | Literal["learned", "channel"] = 4.0


@dataclass(eq=False)
class AdapterPlusConfig(BnConfig):
    """Adapter+ for vision transformers, with channel-wise scaling and drop-path (Steitz & Roth, 2024)."""

    original_ln_after: bool = False
    original_ln_before: bool = True
    residual_before_ln: bool | Literal["post_add"] = False
    stochastic_depth: float = 0.1
    init_weights: Literal["bert", "mam_adapter", "houlsby"] = "houlsby"
    scaling: float | Literal["learned", "channel"] = "channel"
    mh_adapter: bool = False
    output_adapter: bool = True
    reduction_factor: float | Mapping[str, float] = 96
    non_linearity: str | None = "gelu"
