"""Prefix tuning and prompt tuning configs: learned vectors prepended to attention keys/values or to the input."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from .base import AdapterConfig

__all__ = ["PrefixTuningConfig", "PromptTuningConfig"]


@dataclass(eq=False)
class PrefixTuningConfig(AdapterConfig):
    """Prefix tuning (Li & Liang, 2021, "Prefix-Tuning: Optimizing Continuous Prompts for Generation").

    Attributes:
        encoder_prefix: Add prefixes to the encoder's self-attention (encoder-decoder models).
        cross_prefix: Add prefixes to the decoder's cross-attention (encoder-decoder models).
        leave_out: Layer indices without prefixes.
        flat: Learn the prefixes directly instead of through a reparameterizing MLP.
        prefix_length: Number of prefix positions.
        bottleneck_size: Hidden size of the reparameterizing MLP.
        non_linearity: Activation of the reparameterizing MLP.
        dropout: Dropout on the prefixes.
        use_gating: Add a learned gate on the prefixes.
        shared_gating: Share one gate between keys and values.
        init_weights_seed: Seed for initializing the weights (``None``: not seeded).
        shift_relative_positions: On models with relative position biases (T5), compute them as adapters 1.x did:
            over the keys *including* the prefix, so every real key's relative position is shifted by the prefix
            length. Off (default), the prefix gets zero bias and real tokens keep their positions. Set it to
            reproduce the outputs of T5 prefix-tuning adapters trained with the reference
            (``load_adapter(..., shift_relative_positions=True)``).
    """

    architecture: ClassVar[str | None] = "prefix_tuning"

    encoder_prefix: bool = True
    cross_prefix: bool = True
    leave_out: list[int] = field(default_factory=list)
    flat: bool = False
    prefix_length: int = 30
    bottleneck_size: int = 512
    non_linearity: str | None = "tanh"
    dropout: float = 0.0
    use_gating: bool = False
    shared_gating: bool = True
    init_weights_seed: int | None = None
    shift_relative_positions: bool = False

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "prefix_length": (1, None),
        "bottleneck_size": (1, None),
        "dropout": (0.0, 1.0),
    }


@dataclass(eq=False)
class PromptTuningConfig(AdapterConfig):
    """Prompt tuning (Lester et al., 2021, "The Power of Scale for Parameter-Efficient Prompt Tuning").

    Attributes:
        prompt_length: Number of soft prompt tokens.
        prompt_init: ``"random_uniform"`` or ``"from_string"`` (embeddings of ``prompt_init_text``).
        prompt_init_text: Text whose token embeddings initialize the prompt (for ``"from_string"``).
        combine: Where the prompt goes: ``"prefix"`` (before the input) or ``"prefix_after_bos"``.
        init_weights_seed: Seed for initializing the weights (``None``: not seeded).
        random_uniform_scale: Range ``[-scale, scale]`` of the ``"random_uniform"`` initialization.
    """

    architecture: ClassVar[str | None] = "prompt_tuning"

    prompt_length: int = 10
    prompt_init: Literal["random_uniform", "from_string"] = "random_uniform"
    prompt_init_text: str | None = None
    combine: Literal["prefix", "prefix_after_bos"] = "prefix"
    init_weights_seed: int | None = None
    random_uniform_scale: float = 0.5

    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {
        "prompt_length": (1, None),
        "random_uniform_scale": (0.0, None),
    }

    def _check(self, invalid: frozenset[str]) -> list[str]:
        if "prompt_init_text" not in invalid and self.prompt_init == "from_string" and not self.prompt_init_text:
            return ["prompt_init_text: a non-empty text is needed when prompt_init='from_string'"]
        return []
