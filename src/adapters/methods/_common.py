"""Small helpers shared by several method modules."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator

import torch
from torch import nn
from transformers.activations import get_activation

from ..errors import AdapterConfigError

__all__ = [
    "activation",
    "bert_init",
    "seeded",
    "StochasticDepth",
    "place_like",
    "floating_dtype",
    "dtype_by_name",
    "adapter_dtype",
    "shared_parameters_store",
    "call_kwargs",
]


class _LeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(x)


def activation(name: str | None) -> nn.Module:
    """The activation module for a config's ``non_linearity`` (``None`` → identity), as the reference resolves it."""
    if name is None:
        return nn.Identity()
    if name.lower() == "leakyrelu":
        return _LeakyReLU()
    try:
        return get_activation(name.lower())
    except KeyError as error:
        raise AdapterConfigError(f"Unknown non_linearity {name!r}: {error}") from None


def bert_init(module: nn.Module) -> None:
    """BERT-style init: Linear/Embedding weights ~ N(0, 0.02), zero biases, LayerNorm weight 1 and bias 0."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.data.zero_()


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with torch's RNG seeded by ``seed`` (no-op for ``None``); the global RNG state is restored."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class StochasticDepth(nn.Module):
    """Drop the whole residual branch of a sample with probability ``p`` during training ("row" mode).

    Huang et al., 2016, https://arxiv.org/abs/1603.09382. Survivors are scaled by ``1 / (1 - p)``.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep


def floating_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of ``module``'s first floating-point parameter, or ``None``. Quantized weights (int8/uint8 storage of
    bitsandbytes layers) are skipped, so a quantized layer answers with its bias's or LayerNorm's dtype."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return None


def dtype_by_name(value: torch.dtype | str | None, what: str = "dtype") -> torch.dtype | None:
    """``value`` (a torch dtype or its name, e.g. ``"float32"`` or ``"torch.bfloat16"``) as a floating-point torch
    dtype; ``None`` stays ``None``."""
    if value is None or isinstance(value, torch.dtype) and value.is_floating_point:
        return value
    dtype = getattr(torch, str(value).removeprefix("torch."), None) if isinstance(value, str) else None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise AdapterConfigError(
            f"{what}={value!r} is not a floating-point torch dtype; allowed: a torch dtype or its name, e.g. "
            "'float32', 'bfloat16', 'float16'."
        )
    return dtype


def adapter_dtype(runtime, config_dtype: str | None, *references: nn.Module) -> torch.dtype:
    """The dtype of new adapter weights: ``add_adapter(..., dtype=...)`` (``runtime.add_options``) or the config's
    ``dtype`` field (LoRA, ReFT) if given, else the floating dtype of the first of ``references`` that has one (the
    module the adapter attaches to), else float32. Both given and different raises :class:`AdapterConfigError`."""
    requested = dtype_by_name(runtime.add_options.get("dtype"))
    configured = dtype_by_name(config_dtype, "config dtype")
    if requested is not None and configured is not None and requested != configured:
        raise AdapterConfigError(
            f"add_adapter(dtype={requested}) contradicts the config's dtype={config_dtype!r}; give one of them."
        )
    chosen = requested or configured
    if chosen is not None:
        return chosen
    return next((d for d in map(floating_dtype, references) if d is not None), torch.float32)


def place_like(module: nn.Module, reference: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """Move ``module`` to the device of ``reference``'s parameters and to ``dtype`` (default: ``reference``'s
    floating dtype, see :func:`floating_dtype`), and copy its train mode."""
    param = next(reference.parameters(), None)
    module.to(device=None if param is None else param.device, dtype=dtype or floating_dtype(reference))
    module.train(reference.training)
    return module


def shared_parameters_store(runtime, create: bool) -> nn.ModuleDict | None:
    """``base_model.shared_parameters``: per-adapter modules shared by all layers (Compacter's PHM parameters,
    VeRA's random pair), created on demand. Its keys are the reference's ``shared_parameters.<name>.…``."""
    base = runtime.base_model
    store = getattr(base, "shared_parameters", None)
    if store is None and create:
        store = nn.ModuleDict()
        base.add_module("shared_parameters", store)
    return store


_SIGNATURES: dict[type, list[str]] = {}


def call_kwargs(module: nn.Module, args: tuple, kwargs: dict) -> dict:
    """The call's arguments as keywords (positional arguments named by the forward signature)."""
    if not args:
        return dict(kwargs)
    names = _SIGNATURES.get(type(module))
    if names is None:
        names = [
            p.name
            for p in inspect.signature(type(module).forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
        ]
        _SIGNATURES[type(module)] = names
    merged = dict(zip(names, args))
    merged.update(kwargs)
    return merged
