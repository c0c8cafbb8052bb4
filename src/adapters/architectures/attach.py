"""Resolve an :class:`ArchitectureSpec` on a live model and manage what methods attach to it.

The :class:`AdapterRuntime` is created once per adapter-enabled model. It knows the model's layers (with the
reference's global indices: encoder layers first, then decoder layers), resolves dotted paths, creates the small
holder modules that adapters live in (so their state-dict keys match the reference), and answers "which setup is
active for layer i" for the hooks, taking ``AdapterSetup`` contexts and AdapterDrop's ``skip_layers`` into account.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

from ..composition import AdapterCompositionBlock
from ..context import AdapterSetup
from ..errors import UnsupportedModelError
from .spec import ArchitectureSpec, LayerGroup
from .specs import spec_for_model_type, supported_model_types

__all__ = ["AdapterRuntime", "LayerRef", "resolve_path", "HolderModule", "spec_for_model"]


class HolderModule(nn.Module):
    """An empty container module created only so adapter keys follow the reference layout (never called)."""

    def forward(self, *args, **kwargs):  # pragma: no cover - holders are never called
        raise RuntimeError("HolderModule only stores adapter modules and is never called.")


@dataclass(frozen=True)
class LayerRef:
    """One transformer layer: its global index, the module, its group and its path below the base model."""

    index: int
    module: nn.Module
    group: LayerGroup
    path: str


def resolve_path(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    """Follow a dotted path (negative list indices allowed) and return the module and its concrete path."""
    module, parts = root, []
    for part in path.split(".") if path else []:
        if part.lstrip("-").isdigit():
            index = int(part)
            container = list(module.children()) if not isinstance(module, nn.ModuleList) else module
            if index < 0:
                index += len(container)
            module = container[index]
            parts.append(str(index))
        else:
            if not hasattr(module, part):
                raise UnsupportedModelError(
                    f"Module path {path!r} does not exist in {type(root).__name__}: no attribute {part!r} on "
                    f"{type(module).__name__}."
                )
            module = getattr(module, part)
            parts.append(part)
    return module, ".".join(parts)


def spec_for_model(model: nn.Module) -> ArchitectureSpec:
    """The spec of the model's family; :class:`UnsupportedModelError` lists the supported types otherwise."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    spec = spec_for_model_type(model_type) if model_type else None
    if spec is None:
        raise UnsupportedModelError(
            f"Model type {model_type!r} ({type(model).__name__}) is not supported. Supported model types: "
            f"{', '.join(supported_model_types())}."
        )
    return spec


class AdapterRuntime:
    """Per-model state shared by all hooks: layers, active setup, AdapterDrop layers."""

    def __init__(self, model: nn.Module, spec: ArchitectureSpec):
        self.spec = spec
        self.active_setup: AdapterCompositionBlock | None = None
        self.skip_layers: tuple[int, ...] | None = None
        base = model.base_model
        self.__dict__["_base_model"] = base
        self.layers: list[LayerRef] = []
        for group in spec.layer_groups:
            container, container_path = resolve_path(base, group.path)
            for offset, layer in enumerate(container):
                self.layers.append(LayerRef(len(self.layers), layer, group, f"{container_path}.{offset}"))

    @property
    def base_model(self) -> nn.Module:
        return self.__dict__["_base_model"]

    def iter_layers(self) -> Iterator[LayerRef]:
        return iter(self.layers)

    def setup_for_layer(self, layer_index: int | None) -> AdapterCompositionBlock | None:
        """The setup that applies to ``layer_index`` now (``None`` index: model-level, ignores skip_layers)."""
        context = AdapterSetup.get_context()
        if context is not None:
            setup, skip = context.adapter_setup, context.skip_layers
            if skip is None:
                skip = self.skip_layers
        else:
            setup, skip = self.active_setup, self.skip_layers
        if setup is None or (layer_index is not None and skip and layer_index in skip):
            return None
        return setup

    def ensure_module(self, root: nn.Module, path: str, factory) -> nn.Module:
        """Return the module at ``path`` below ``root``, creating it (and empty holders above it) if missing."""
        *parents, leaf = path.split(".")
        parent_path = ".".join(parents)
        parent = root
        if parent_path:
            parent, _ = resolve_path(root, ".".join(self._ensure_holders(root, parents)))
        existing = getattr(parent, leaf, None)
        if existing is None:
            existing = factory()
            parent.add_module(leaf, existing)
        return existing

    def _ensure_holders(self, root: nn.Module, parts: list[str]) -> list[str]:
        module, concrete = root, []
        for part in parts:
            if part.lstrip("-").isdigit():
                module, resolved = resolve_path(module, part)
                concrete.append(resolved)
                continue
            child = getattr(module, part, None)
            if child is None:
                child = HolderModule()
                module.add_module(part, child)
            module = child
            concrete.append(part)
        return concrete

    def remove_module(self, root: nn.Module, path: str) -> None:
        """Remove the module at ``path`` and any :class:`HolderModule` parents left empty."""
        parts = path.split(".")
        for depth in range(len(parts), 0, -1):
            parent, _ = resolve_path(root, ".".join(parts[: depth - 1]))
            leaf = parts[depth - 1]
            child = getattr(parent, leaf, None)
            if child is None:
                return
            if depth < len(parts) and (not isinstance(child, HolderModule) or len(child._modules) > 0):
                return
            delattr(parent, leaf)
