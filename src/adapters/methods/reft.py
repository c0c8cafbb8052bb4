"""Representation fine-tuning: LoReFT, NoReFT and DiReFT (Wu et al., 2024, "ReFT: Representation Finetuning for
Language Models", https://arxiv.org/abs/2404.03592).

ReFT edits the output ``h`` of chosen layers at a few positions instead of changing weights. With a projection
``R ∈ R^{r × d}`` (rows orthonormal for LoReFT via ``torch.nn.utils.parametrizations.orthogonal``) and a learned
source ``W h + b``:

    LoReFT / NoReFT:  h ← h + (φ(W h + b) − R h) R        DiReFT (subtract_projection=False):  h ← h + φ(W h + b) R

(then dropout, as the reference). It acts on the first ``prefix_positions`` and the last ``suffix_positions``
non-padding tokens of each row, found in the 2-D attention mask (first non-padding token = first 1; the reference's
offsets). Prefix and suffix positions have their own unit unless ``tied_weights``. Only the first adapter of the
active setup is used (as the reference), except in a ``MultiTask`` (``task_ids``, or per-row routing with
``adapter_names``): each group of rows gets its own adapter's intervention at its own positions, or none.

A forward hook on each selected layer (``layers``) rewrites its output (tuple outputs such as T5's keep their other
elements); a pre-hook on the module that receives the group's inputs (the base model, or T5/BART's encoder and
decoder stacks) reads the attention mask and the KV-cache length. With a KV cache, positions are absolute (the
mask covers past and current tokens), so cached decoding edits the same tokens as a full forward for prefix
positions; suffix positions are "the last tokens of the current sequence" and move as tokens are generated.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ..architectures.attach import HOOK_CONSUME, INPUT_CAPTURE, AdapterRuntime, LayerRef, resolve_path
from ..composition import MultiTask
from ..configuration import ReftConfig
from ._common import activation, adapter_dtype, call_kwargs, place_like, seeded
from .composer import routed_rows
from .registry import AdapterMethod, register_method

__all__ = ["ReftUnit", "ReftModule", "ReftLayer", "reft_position_masks"]

logger = logging.getLogger(__name__)


class ReftUnit(nn.Module):
    """One intervention ``h + (φ(W h + b) − R h) R`` (``subtract_projection=False``: ``h + φ(W h + b) R``)."""

    def __init__(self, hidden_size: int, config: ReftConfig, dtype: torch.dtype):
        super().__init__()
        self.orthogonal = config.orthogonality
        self.subtract_projection = config.subtract_projection
        self.learned_source = nn.Linear(hidden_size, config.r, bias=True, dtype=dtype)
        # the orthogonal parametrization cannot be set up on the meta device (from_pretrained builds the model there;
        # its buffer ``base`` would be missing): build it on the CPU, the checkpoint's values are copied in later
        meta = torch.empty(0).device.type == "meta"
        device = "cpu" if config.orthogonality and meta else None
        projection = nn.Linear(hidden_size, config.r, bias=False, dtype=dtype, device=device)
        if config.orthogonality:
            if dtype in (torch.float16, torch.bfloat16):
                logger.warning("ReFT's orthogonal parametrization needs float32; the projection is kept in float32.")
                projection = projection.float()
            projection = nn.utils.parametrizations.orthogonal(projection)
        self.projection = projection
        self.non_linearity = activation(config.non_linearity)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = hidden.to(self.learned_source.weight.dtype)
        source = self.non_linearity(self.learned_source(x))
        weight = self.projection.weight
        if self.subtract_projection:
            source = source - x.to(weight.dtype) @ weight.t()
        return self.dropout(x + (source.to(weight.dtype) @ weight).to(x.dtype)).to(hidden.dtype)


class ReftModule(nn.Module):
    """One adapter's interventions at one layer: ``units.0`` (prefix positions) and ``units.1`` (suffix positions),
    or a single ``units.0`` for both with ``tied_weights``."""

    def __init__(self, hidden_size: int, config: ReftConfig, dtype: torch.dtype):
        super().__init__()
        self.prefix_positions = config.prefix_positions
        self.suffix_positions = config.suffix_positions
        self.tied_weights = config.tied_weights
        units = []
        for _ in range(1 if config.tied_weights else 2):
            with seeded(config.init_weights_seed):
                units.append(ReftUnit(hidden_size, config, dtype))
        self.units = nn.ModuleList(units)

    def forward(self, hidden: torch.Tensor, prefix: torch.Tensor, suffix: torch.Tensor) -> torch.Tensor:
        """``hidden`` ``(batch, length, size)``; ``prefix``/``suffix``: ``(batch, length)`` booleans."""
        if self.tied_weights:
            selected = (prefix | suffix).unsqueeze(-1)
            return torch.where(selected, self.units[0](hidden), hidden)
        out = torch.where(prefix.unsqueeze(-1), self.units[0](hidden), hidden) if self.prefix_positions else hidden
        if self.suffix_positions:
            out = torch.where(suffix.unsqueeze(-1), self.units[1](hidden), out)
        return out


def reft_position_masks(
    batch: int,
    length: int,
    attention_mask: torch.Tensor | None,
    past_length: int,
    prefix_positions: int,
    suffix_positions: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean ``(batch, length)`` masks of the current positions that are among the first ``prefix_positions``
    and the last ``suffix_positions`` non-padding tokens.

    ``attention_mask`` ``(batch, total)`` covers the cached and current tokens (``None``: no padding, ``total =
    past_length + length``); the current tokens are its last ``length`` columns.
    """
    if attention_mask is not None and attention_mask.dim() == 2 and attention_mask.shape[0] == batch:
        mask = attention_mask.to(device)
        total = mask.shape[1]
        offsets = mask.argmax(dim=1)
        ends = offsets + (mask == 1).sum(dim=1)
    else:
        total = past_length + length
        offsets = torch.zeros(batch, dtype=torch.long, device=device)
        ends = torch.full((batch,), total, dtype=torch.long, device=device)
    start = total - length

    def select(absolute: torch.Tensor) -> torch.Tensor:
        local = absolute - start
        valid = (local >= 0) & (local < length)
        index = torch.where(valid, local, torch.full_like(local, length))
        chosen = torch.zeros(batch, length + 1, dtype=torch.bool, device=device)
        chosen.scatter_(1, index, True)
        return chosen[:, :length]

    n_prefix, n_suffix = min(prefix_positions, total), min(suffix_positions, total)
    prefix = select(offsets[:, None] + torch.arange(n_prefix, device=device))
    suffix = select(ends[:, None] + torch.arange(-n_suffix, 0, device=device))
    return prefix, suffix


class _GroupInputs:
    """Pre-hooks that put each layer group's 2-D attention mask and KV-cache length into the call's scratch."""

    def __init__(self, runtime: AdapterRuntime):
        self.runtime = runtime
        self.handles: list = []

    def install(self) -> None:
        paths = dict.fromkeys(group.inputs for group in self.runtime.spec.layer_groups)
        for path in paths:
            module = resolve_path(self.runtime.base_model, path)[0] if path else None
            self.handles.append(self.runtime.register_input_hook(self._capture(path), INPUT_CAPTURE, module=module))

    def uninstall(self) -> None:
        for handle in self.handles:
            self.runtime.remove_hook(handle)
        self.handles.clear()

    def _capture(self, path: str):
        key = _inputs_key(path)

        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            call = self.runtime.current()
            if call is None:
                return
            values = call_kwargs(module, args, kwargs)
            mask = values.get("attention_mask")
            past = values.get("past_key_values")
            past_length = int(past.get_seq_length()) if past is not None and hasattr(past, "get_seq_length") else 0
            call.scratch[key] = (mask if isinstance(mask, torch.Tensor) else None, past_length)

        return hook


def _inputs_key(path: str) -> str:
    return f"reft:inputs:{path}"


class ReftLayer(nn.Module):
    """``<layer>.reft_layer``: the ReFT adapters of one layer (``refts.<name>``) and the hook on the layer output."""

    def __init__(self, runtime: AdapterRuntime, ref: LayerRef):
        super().__init__()
        self.refts = nn.ModuleDict()
        self.layer_idx = ref.index
        self.location_key = "output_reft"
        self.__dict__.update(_runtime=runtime, _ref=ref, _handle=None)

    def install(self) -> None:
        runtime = self.__dict__["_runtime"]
        self.__dict__["_handle"] = runtime.register_output_hook(
            self.__dict__["_ref"].module, self._on_output, HOOK_CONSUME
        )

    def uninstall(self) -> None:
        handle = self.__dict__["_handle"]
        if handle is not None:
            self.__dict__["_runtime"].remove_hook(handle)
        self.__dict__["_handle"] = None

    def _on_output(self, module: nn.Module, args: tuple, output):
        call = self.__dict__["_runtime"].current()
        setup = None if call is None else call.setup_for(self.layer_idx)
        if setup is None or setup.flatten().isdisjoint(self.refts.keys()):
            return None
        hidden = output[0] if isinstance(output, tuple) else output
        mask, past = call.scratch.get(_inputs_key(self.__dict__["_ref"].group.inputs), (None, 0))
        if isinstance(setup, MultiTask):  # each group of rows gets its own adapter's intervention (or none)
            new = hidden
            for child, rows in routed_rows(setup, call, hidden.shape[0], hidden.device):
                name = child if child is None or isinstance(child, str) else child.first()
                if name in self.refts:
                    rows_mask = mask[rows] if isinstance(mask, torch.Tensor) and mask.dim() == 2 else mask
                    new = new.index_copy(0, rows, self._intervene(self.refts[name], hidden[rows], rows_mask, past))
        elif setup.first() in self.refts:
            new = self._intervene(self.refts[setup.first()], hidden, mask, past)
        else:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    @staticmethod
    def _intervene(reft: ReftModule, hidden: torch.Tensor, mask: torch.Tensor | None, past: int) -> torch.Tensor:
        prefix, suffix = reft_position_masks(
            hidden.shape[0],
            hidden.shape[1],
            mask,
            past,
            reft.prefix_positions,
            reft.suffix_positions,
            hidden.device,
        )
        return reft(hidden, prefix, suffix).to(hidden.dtype)


# --------------------------------------------------------------------------------------------------------------
# add / delete / inspect
# --------------------------------------------------------------------------------------------------------------
def _group_inputs(runtime: AdapterRuntime, create: bool = False) -> _GroupInputs | None:
    inputs = runtime.__dict__.get("_reft_inputs")
    if inputs is None and create:
        inputs = _GroupInputs(runtime)
        inputs.install()
        runtime.__dict__["_reft_inputs"] = inputs
    return inputs


def _selected_layers(runtime: AdapterRuntime, config: ReftConfig):
    if not config.output_reft:
        return
    for ref in runtime.iter_layers():
        if config.layers == "all" or ref.index in config.layers:
            yield ref


def _reft_layer(ref: LayerRef) -> ReftLayer | None:
    layer = getattr(ref.module, "reft_layer", None)
    return layer if isinstance(layer, ReftLayer) else None


def check_support(runtime: AdapterRuntime, config: ReftConfig) -> str | None:
    if next(iter(_selected_layers(runtime, config)), None) is None:
        return (
            f"the config selects no layer of this model (layers={config.layers!r}, output_reft={config.output_reft})"
        )
    return None


def add(runtime: AdapterRuntime, name: str, config: ReftConfig) -> None:
    """Build every module first, then attach them all, so a failure leaves the model untouched."""
    base = runtime.base_model
    model_config = base.config.get_text_config()
    hidden = int(model_config.hidden_size)
    built = []
    for ref in _selected_layers(runtime, config):
        dtype = adapter_dtype(runtime, config.dtype, ref.module, base)
        module = ReftModule(hidden, config, dtype).to(next(ref.module.parameters()).device)
        module.train(base.training)
        built.append((ref, module))
    _group_inputs(runtime, create=True)
    for ref, module in built:
        layer = _reft_layer(ref)
        if layer is None:
            layer = place_like(ReftLayer(runtime, ref), base)
            layer.install()
            ref.module.add_module("reft_layer", layer)
        layer.refts[name] = module


def delete(runtime: AdapterRuntime, name: str) -> None:
    remaining = False
    for ref in runtime.iter_layers():
        layer = _reft_layer(ref)
        if layer is None:
            continue
        if name in layer.refts:
            del layer.refts[name]
        if len(layer.refts) == 0:
            layer.uninstall()
            delattr(ref.module, "reft_layer")
        else:
            remaining = True
    inputs = _group_inputs(runtime)
    if inputs is not None and not remaining:
        inputs.uninstall()
        del runtime.__dict__["_reft_inputs"]


def modules(runtime: AdapterRuntime, name: str) -> dict[int, dict[str, nn.Module]]:
    found: dict[int, dict[str, nn.Module]] = {}
    for ref in runtime.iter_layers():
        layer = _reft_layer(ref)
        if layer is not None and name in layer.refts:
            found[ref.index] = {"output_reft": layer.refts[name]}
    return found


REFT = register_method(
    AdapterMethod(
        name="reft",
        architecture="reft",
        containers=("refts",),
        add=add,
        delete=delete,
        modules=modules,
        check_support=check_support,
        supported_blocks=frozenset({MultiTask}),
        kinds=(("reft", "loreft"),),
    )
)
