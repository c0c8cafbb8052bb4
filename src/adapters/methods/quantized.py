"""Quantized base layers (bitsandbytes 4-bit and 8-bit): recognising them and reading their weights.

bitsandbytes' ``Linear4bit`` and ``Linear8bitLt`` subclass ``nn.Linear`` but store their weight packed: 4-bit (nf4,
fp4) as ``uint8`` of shape ``(out·in/2, 1)`` with its quantization state in ``weight.quant_state``, 8-bit as ``int8``
``(out, in)`` with one scale per output row (``weight.SCB``). Adapter sites therefore read ``in_features`` and
``out_features`` from the module, never from the weight's shape, and what needs the weight's values (DoRA's
magnitude and norms) reads them dequantized. Adapters run on such layers through the usual hooks (the layer's own
forward is untouched, so its quantized matmul and its backward to the input are bitsandbytes'). Merging an adapter
into quantized weights is refused (:func:`adapters.methods.lora.merge_adapter`).

bitsandbytes is an optional dependency (the ``quantization`` extra); it is imported only to dequantize a 4-bit weight.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..errors import UnsupportedModelError

__all__ = ["quantization_kind", "dequantized_weight"]


def _int8_scales(module: nn.Module) -> torch.Tensor | None:
    """The per-row scales of an 8-bit bitsandbytes weight (on the weight, or in older versions on ``module.state``)."""
    scales = getattr(module.weight, "SCB", None)
    return scales if scales is not None else getattr(getattr(module, "state", None), "SCB", None)


def quantization_kind(module: nn.Module) -> str | None:
    """A description such as ``"bitsandbytes 4-bit (nf4)"`` if ``module``'s weight is quantized, else ``None``."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.is_floating_point():
        return None
    quant_state = getattr(weight, "quant_state", None)
    if quant_state is not None:
        return f"bitsandbytes 4-bit ({getattr(quant_state, 'quant_type', None) or 'unknown type'})"
    if _int8_scales(module) is not None:
        return "bitsandbytes 8-bit"
    return f"quantized ({type(module).__name__} with a {weight.dtype} weight)"


def dequantized_weight(module: nn.Module) -> torch.Tensor:
    """``module.weight`` itself if it is a floating-point tensor, else its dequantized values (a new tensor of the
    module's logical weight shape)."""
    weight = module.weight
    if weight.is_floating_point():
        return weight
    quant_state = getattr(weight, "quant_state", None)
    if quant_state is not None:
        return _dequantize_4bit(weight.data, quant_state)
    scales = _int8_scales(module)
    if scales is not None:
        return weight.data.float() * (scales.float().unsqueeze(1) / 127.0)
    raise UnsupportedModelError(
        f"Cannot read the weights of {quantization_kind(module)}: only float weights and bitsandbytes 4-bit/8-bit "
        "layers can be dequantized."
    )


def _dequantize_4bit(data: torch.Tensor, quant_state) -> torch.Tensor:
    """bitsandbytes' ``dequantize_4bit``. On CPUs with AVX512-BF16, bitsandbytes repacks a 4-bit weight into a
    CPU-specific layout at its first inference forward (``quant_state.packing_format_for_cpu``); its own inverse
    (which rebinds attributes of the state it is given, hence the shallow copy) restores the standard layout first."""
    import bitsandbytes.functional as bnb_functional

    if getattr(quant_state, "packing_format_for_cpu", False):
        data, quant_state = bnb_functional._convert_weight_packed_for_cpu_inverse(data, copy.copy(quant_state))
    return bnb_functional.dequantize_4bit(data, quant_state)
