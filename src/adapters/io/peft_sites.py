"""The linear layers LoRA-family adapters can adapt in a model, as PEFT names them (shared by import and export).

PEFT checkpoints name an adapted layer by its module path (``base_model.model.<path>.lora_A.weight``), relative to
whatever model class PEFT wrapped (``LlamaModel`` → ``layers.0...``, ``LlamaForCausalLM`` → ``model.layers.0...``).
This table lists our LoRA sites by their path relative to the base model, so both forms are found.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..architectures.attach import resolve_path
from ..errors import UnsupportedModelError

__all__ = ["LinearSite", "lora_sites", "find_site", "PEFT_PREFIX", "PEFT_WEIGHTS_NAMES"]

PEFT_PREFIX = "base_model.model."  # of every key in a PEFT checkpoint
PEFT_WEIGHTS_NAMES = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class LinearSite:
    """One linear layer our LoRA-family methods can adapt.

    Attributes:
        path: module path relative to the base model (``encoder.layer.0.attention.self.query``).
        layer: global layer index (``leave_out`` uses it).
        location: ``"selfattn"``, ``"intermediate"`` or ``"output"`` (the config flags ``<location>_lora``).
        matrices: attention matrices computed by the layer: ``("q",)``; ``("q", "k", "v")`` for a fused projection;
            ``()`` for feed-forward layers.
        module: the linear layer.
    """

    path: str
    layer: int
    location: str
    matrices: tuple[str, ...]
    module: nn.Module

    @property
    def kinds(self) -> tuple[tuple[str, str | None], ...]:
        """What the config must enable to adapt this layer: ``(location, matrix)`` pairs."""
        return tuple((self.location, m) for m in self.matrices) or ((self.location, None),)

    @property
    def has_bias(self) -> bool:
        return getattr(self.module, "bias", None) is not None


def _resolve(layer: nn.Module, path: str) -> nn.Module | None:
    for alternative in path.split("|"):
        try:
            return resolve_path(layer, alternative)[0]
        except (UnsupportedModelError, IndexError, AttributeError):
            continue
    return None


def lora_sites(model: nn.Module) -> dict[str, LinearSite]:
    """Every LoRA site of an adapter-enabled ``model``, by path relative to its base model."""
    names = {id(m): n for n, m in model.base_model.named_modules()}
    sites = {}
    for ref in model._adapter_runtime.iter_layers():
        for site in ref.group.lora_sites:
            linear = _resolve(ref.module, site.path)
            if linear is not None:
                path = names[id(linear)]
                sites[path] = LinearSite(path, ref.index, site.location, tuple(site.matrices), linear)
    return sites


def find_site(sites: dict[str, LinearSite], path: str) -> LinearSite | None:
    """The site of a module path relative to the base model or to a model class wrapping it (one more leading
    segment: ``bert.``, ``model.``, ``transformer.``)."""
    if path in sites:
        return sites[path]
    head, _, rest = path.partition(".")
    return sites.get(rest) if rest else None
