"""Dotted module paths below a model (``encoder.layer.-1.output``), as the specs write them."""

from __future__ import annotations

from torch import nn

from ..errors import UnsupportedModelError

__all__ = ["resolve_path"]


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
