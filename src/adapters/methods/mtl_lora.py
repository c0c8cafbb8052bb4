"""MTL-LoRA's parameter sharing: the adapters of several tasks share ``lora_A`` and ``lora_B``.

MTL-LoRA (Yang et al., 2024, https://arxiv.org/abs/2410.09437) trains one adapter per task; the down projection
``A`` and the up projections ``B_k`` are shared between them while each task keeps its own transform ``Λ`` and
mixing weights. ``share_parameters`` ties the adapters' ``lora_A``/``lora_B`` to one copy of the reference
adapter's values (at every layer holding all of them); ``unshare_parameters`` gives each adapter its own copy of
the shared values again (the reference leaves them tied). Examples are routed to the task adapters by
``MultiTask`` with ``task_ids`` (see :mod:`adapters.methods.lora`); the module math is in
:class:`adapters.methods._lowrank.MTLLoRA`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from torch import nn

from ..composition import MultiTask
from ..configuration import MultiTaskConfig
from ..errors import AdapterConfigError, AdapterNotFoundError, AdapterTypeError
from .lora import lora_layers

__all__ = ["SHARED_PARAMETERS", "share_parameters", "unshare_parameters"]

logger = logging.getLogger(__name__)

SHARED_PARAMETERS = ("lora_A", "lora_B")


def _names(adapter_names: MultiTask | Sequence[str] | str) -> list[str]:
    if isinstance(adapter_names, MultiTask):
        return [str(child) for child in adapter_names]
    if isinstance(adapter_names, str):
        return adapter_names.split(",")
    return list(adapter_names)


def share_parameters(
    model,
    adapter_names: MultiTask | Sequence[str] | str,
    name: str | None = None,
    reference_adapter_name: str | None = None,
) -> str:
    """Tie ``lora_A``/``lora_B`` of ``adapter_names`` to copies of ``reference_adapter_name``'s (default: the first).

    Returns the sharing group's name (``name`` or the comma-joined adapter names).

    Raises:
        AdapterNotFoundError: an adapter does not exist, or the reference is not among ``adapter_names``.
        AdapterTypeError: an adapter is not a multi-task adapter (``MTLLoRAConfig``), or their config types differ
            (an ``UnsupportedMethodError`` and a ``TypeError``).
        AdapterConfigError: the adapters' shapes differ somewhere, or one of them is already in a sharing group.
    """
    names = _names(adapter_names)
    if not names:
        raise AdapterConfigError("share_parameters needs at least one adapter name.")
    name = name or ",".join(names)
    reference = reference_adapter_name or names[0]
    if reference not in names:
        raise AdapterNotFoundError(f"Reference adapter {reference!r} is not among the adapters to share: {names}.")
    configs = {n: model._require_adapter(n) for n in names}
    wrong = {n: type(c).__name__ for n, c in configs.items() if not isinstance(c, MultiTaskConfig)}
    if wrong:
        raise AdapterTypeError(f"share_parameters needs multi-task adapters (MTLLoRAConfig); got {wrong}.")
    if len({type(c) for c in configs.values()}) > 1:
        raise AdapterTypeError(
            f"Adapters to share must have the same config type, got {set(map(type, configs.values()))}."
        )
    layers = [layer for layer in lora_layers(model._adapter_runtime) if all(n in layer for n in names)]
    for layer in layers:  # check everything before tying anything
        busy = [n for members in layer.shares.values() for n in members if n in names]
        if busy:
            raise AdapterConfigError(
                f"Adapter {busy[0]!r} already shares parameters; call unshare_parameters for its group first."
            )
        for pname in SHARED_PARAMETERS:
            shapes = {n: tuple(getattr(layer[n], pname).shape) for n in names}
            if len(set(shapes.values())) > 1:
                raise AdapterConfigError(f"Cannot share {pname}: shapes differ at layer {layer.layer_idx}: {shapes}.")
    for layer in layers:
        for pname in SHARED_PARAMETERS:
            source = getattr(layer[reference], pname)
            shared = nn.Parameter(source.detach().clone(), requires_grad=source.requires_grad)
            for n in names:
                setattr(layer[n], pname, shared)
        layer.shares[name] = tuple(names)
    return name


def unshare_parameters(model, adapter_names: MultiTask | Sequence[str] | str, name: str | None = None) -> None:
    """Give every adapter of sharing group ``name`` (default: the comma-joined ``adapter_names``) its own copy."""
    name = name or ",".join(_names(adapter_names))
    found = False
    for layer in lora_layers(model._adapter_runtime):
        members = layer.shares.pop(name, None)
        if members is None:
            continue
        found = True
        for n in members:
            for pname in SHARED_PARAMETERS:
                param = getattr(layer[n], pname)
                setattr(layer[n], pname, nn.Parameter(param.detach().clone(), requires_grad=param.requires_grad))
    if not found:
        logger.info("No parameter-sharing group %r to unshare.", name)
