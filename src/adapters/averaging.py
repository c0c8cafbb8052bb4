"""``average_adapter``: a new adapter as a weighted combination of existing ones, for every registered method.

``combine_strategy="linear"`` works for every method: the new adapter (with the inputs' config) gets
``Σ_i w_i θ_i`` for each of its parameters and buffers, matched by state-dict key. Negative weights are allowed
("task arithmetic"). Other strategies are method-specific (``AdapterMethod.average``); the LoRA family has:

* ``"lora_linear_only_negate_b"``: ``A = Σ_i |w_i| A_i`` and ``B = Σ_i w_i B_i``, so a negative weight negates
  only ``B`` (Zhang et al., 2023, "Composing Parameter-Efficient Modules with Arithmetic Operations");
* ``"lora_delta_w_svd"``: per adapted layer ``ΔW = Σ_i w_i s_i B_i A_i`` (``s = alpha / r``) is split by a
  truncated SVD into ``A (svd_rank, in)`` and ``B (out, svd_rank)`` of a new adapter with ``r = svd_rank``.
  With ``svd_rank`` at least the sum of the input ranks it reproduces ``ΔW`` exactly (up to float rounding).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch

from .configuration import ConfigUnion, LoRAConfig, get_adapter_config_hash
from .errors import AdapterConfigError, AdapterExistsError, UnsupportedMethodError
from .io.keys import adapter_state_dict, rename_adapter_keys
from .methods import method_for_config

__all__ = ["STRATEGIES", "average_adapter", "input_weights"]

logger = logging.getLogger(__name__)

STRATEGIES = ("linear", "lora_linear_only_negate_b", "lora_delta_w_svd")


def input_weights(
    adapter_list: Sequence[str] | Mapping[str, float], weights: Sequence[float] | None, normalize_weights: bool
) -> dict[str, float]:
    """``{adapter: weight}``: equal weights by default; given weights are divided by their sum if normalizing.

    A mapping ``{adapter: weight}`` may replace ``adapter_list`` + ``weights`` (the reference ignored its values).
    """
    names = list(adapter_list)
    if weights is None and isinstance(adapter_list, Mapping):
        weights = [float(adapter_list[n]) for n in names]
    if not names:
        raise AdapterConfigError("No adapters to average: pass at least one adapter name.")
    if len(set(names)) != len(names):
        raise AdapterConfigError(f"Each adapter may appear once in adapter_list, got {names}.")
    if weights is None:
        return {n: 1.0 / len(names) for n in names}
    weights = [float(w) for w in weights]
    if len(weights) != len(names):
        raise AdapterConfigError(f"Got {len(weights)} weights for {len(names)} adapters ({names}).")
    total = sum(weights) if normalize_weights else 1.0
    if total == 0.0:
        raise AdapterConfigError(
            f"The weights {weights} sum to 0 and cannot be normalized; pass normalize_weights=False."
        )
    return {n: w / total for n, w in zip(names, weights)}


def average_adapter(
    model,
    adapter_name: str,
    adapter_list: Sequence[str] | Mapping[str, float],
    weights: Sequence[float] | None = None,
    combine_strategy: str = "linear",
    normalize_weights: bool = True,
    overwrite_ok: bool = False,
    set_active: bool = False,
    svd_rank: int | None = None,
) -> None:
    """Add ``adapter_name`` as a combination of the adapters in ``adapter_list`` (see the module docstring).

    Raises:
        AdapterConfigError: unknown strategy, bad weights, inputs with different configs (ignoring ``dropout`` and
            ``init_weights``), or ``lora_delta_w_svd`` without ``svd_rank``.
        AdapterExistsError: ``adapter_name`` exists and ``overwrite_ok`` is not set (or it is one of the inputs).
        UnsupportedMethodError: the strategy does not apply to the adapters' method.
    """
    if combine_strategy not in STRATEGIES:
        raise AdapterConfigError(f"Unknown combine_strategy {combine_strategy!r}; allowed: {', '.join(STRATEGIES)}.")
    inputs = input_weights(adapter_list, weights, normalize_weights)
    configs = {name: model._require_adapter(name) for name in inputs}
    hashes = {
        name: get_adapter_config_hash(c, ignore_params=["dropout", "init_weights"]) for name, c in configs.items()
    }
    first = next(iter(inputs))
    different = [name for name in inputs if hashes[name] != hashes[first]]
    if different:
        raise AdapterConfigError(
            f"Cannot average adapters with different configurations: {different} differ from {first!r} (only "
            "dropout and init_weights may differ)."
        )
    config = configs[first]
    if combine_strategy != "linear" and isinstance(config, ConfigUnion):
        raise UnsupportedMethodError(
            "Adapters with a ConfigUnion can only be averaged with combine_strategy='linear'."
        )
    if combine_strategy == "lora_delta_w_svd":
        if svd_rank is None or int(svd_rank) < 1:
            raise AdapterConfigError("combine_strategy='lora_delta_w_svd' needs svd_rank (a positive integer).")
        if isinstance(config, LoRAConfig):
            config = config.replace(r=int(svd_rank))
    elif svd_rank is not None:
        logger.warning("svd_rank is only used by combine_strategy='lora_delta_w_svd'; ignoring it.")
    if adapter_name in inputs:
        raise AdapterExistsError(f"The averaged adapter cannot replace one of its inputs ({adapter_name!r}).")
    if adapter_name in model.adapters_config:
        if not overwrite_ok:
            raise AdapterExistsError(
                f"An adapter named {adapter_name!r} already exists; pass overwrite_ok=True to replace it."
            )
        model.delete_adapter(adapter_name)
    model.add_adapter(adapter_name, config=config)
    try:
        if combine_strategy == "linear":
            _linear(model, adapter_name, inputs)
        else:
            members = config.configs if isinstance(config, ConfigUnion) else [config]
            for member in members:
                method = method_for_config(member)
                if method.average is None:
                    raise UnsupportedMethodError(
                        f"combine_strategy={combine_strategy!r} is not available for {method.name} adapters; use "
                        "'linear'."
                    )
                method.average(model._adapter_runtime, adapter_name, inputs, combine_strategy, svd_rank)
    except BaseException:
        model.delete_adapter(adapter_name)
        raise
    if set_active:
        model.set_active_adapters(adapter_name)


def _linear(model, name: str, inputs: dict[str, float]) -> None:
    target = adapter_state_dict(model, name)
    sources = {i: rename_adapter_keys(adapter_state_dict(model, i), i, name) for i in inputs}
    tensors = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    with torch.no_grad():
        for key in target:
            lacking = [i for i in inputs if key not in sources[i]]
            if lacking:
                raise UnsupportedMethodError(f"Cannot average: adapter {lacking[0]!r} has no weight matching {key}.")
            total = sum(w * sources[i][key].float() for i, w in inputs.items())
            tensors[key].copy_(total.to(tensors[key].dtype))
