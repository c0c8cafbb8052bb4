"""Exporting LoRA-family adapters of this library as PEFT checkpoints (``export_to_peft``).

The folder written (``adapter_config.json`` with ``peft_type`` and ``adapter_model.safetensors``) loads with
``peft.PeftModel.from_pretrained(model, folder)`` and gives the same outputs as the adapter here (tested against the
real ``peft`` library within 1e-5). Keys are ``base_model.model.<module path>``, the module paths being those of the
model object given, so PEFT must wrap the same model class (a base ``LlamaModel`` and a ``LlamaForCausalLM`` name
their layers differently). ``target_modules`` lists the adapted layers by their path below the base model, which
matches either class.

What converts: LoRA (a fused projection such as GPT-2's ``c_attn`` becomes one PEFT LoRA of rank ``parts·r``, with a
block-structured ``B``; its rank goes into ``rank_pattern``), (IA)³ (as PEFT output-scaling vectors,
``feedforward_modules=[]``) and DoRA with ``alpha == r`` (see :mod:`adapters.io.peft` for why) on layers without a
bias, or on layers with a bias when the adapter has ``dora_unscaled_bias=True`` (PEFT's formula; with the default, the
reference's, the bias is scaled too and the export raises). Everything else raises
:class:`~adapters.errors.UnsupportedMethodError` saying why: DoRA on a fused projection (GPT-2's ``c_attn``), other
methods (PEFT has no bottleneck adapters, its prefix tuning differs), VeRA/DVoRA (shared random matrices in another
layout), MTL-LoRA, gated adapters (the gate depends on the input) and unions. A prediction head is not exported
(warning).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from transformers.pytorch_utils import Conv1D

from ..configuration import LoRAConfig, MTLLoRAConfig
from ..errors import UnsupportedMethodError
from .format import ADAPTER_CONFIG_NAME, save_folder
from .keys import adapter_state_dict
from .peft_sites import PEFT_PREFIX, PEFT_WEIGHTS_NAMES, LinearSite, lora_sites

__all__ = ["export_to_peft"]

logger = logging.getLogger(__name__)


def _check_exportable(name: str, config) -> None:
    problem = None
    if not isinstance(config, LoRAConfig):
        problem = (
            f"it is a {type(config).__name__}; PEFT has no bottleneck adapters, fusion or unions, and its prompt "
            "methods store other tensors, so only LoRA, DoRA and (IA)³ adapters convert"
        )
    elif isinstance(config, MTLLoRAConfig):
        problem = "MTL-LoRA's task-specific transforms and mixed up-projections have no PEFT equivalent"
    elif config.vera_d is not None or config.vera_b is not None:
        problem = "VeRA/DVoRA keep shared random matrices in a layout PEFT's VeRA does not use"
    elif config.use_gating:
        problem = "its gate depends on the input, which PEFT's LoRA cannot express"
    elif config.use_dora and config.alpha != config.r:
        problem = (
            f"PEFT's DoRA puts the scaled update into the weight norm and this library's (the reference's) the "
            f"unscaled one; they agree only for alpha == r (here alpha={config.alpha}, r={config.r})"
        )
    if problem:
        raise UnsupportedMethodError(f"Cannot export adapter {name!r} to PEFT: {problem}.")


def _per_site(model, name: str) -> dict[LinearSite, dict[str, torch.Tensor]]:
    """The adapter's tensors grouped by adapted linear layer."""
    by_id = {id(site.module): site for site in lora_sites(model).values()}
    pattern = re.compile(rf"^(?P<path>.+)\.loras\.{re.escape(name)}\.(?P<param>lora_A|lora_B|m\.weight)$")
    grouped: dict[LinearSite, dict[str, torch.Tensor]] = {}
    for key, value in adapter_state_dict(model, name).items():
        match = pattern.match(key)
        if match is None:
            raise UnsupportedMethodError(f"Cannot export adapter {name!r} to PEFT: unexpected weight {key}.")
        site = by_id[id(model.get_submodule(match["path"]))]
        grouped.setdefault(site, {})[match["param"]] = value.detach().to("cpu")
    return grouped


def _parts(site: LinearSite, config: LoRAConfig) -> tuple[int, list[int]]:
    """``(number of output parts of the layer, indices of the parts the adapter adapts)``."""
    if not site.matrices:
        return 1, [0]
    return len(site.matrices), [j for j, m in enumerate(site.matrices) if m in config.attn_matrices]


def _lora_tensors(site: LinearSite, params: dict, config: LoRAConfig) -> tuple[dict[str, torch.Tensor], int]:
    """PEFT's ``lora_A``/``lora_B`` (and DoRA magnitude) of one layer, and its rank there."""
    n_parts, used = _parts(site, config)
    A, B = params["lora_A"], params["lora_B"]
    r = config.r
    if n_parts > 1:  # fused q|k|v: one LoRA of rank len(used)·r with a block-structured B
        size = B.shape[0] // len(used)
        full = torch.zeros(n_parts * size, len(used) * r, dtype=B.dtype)
        for k, j in enumerate(used):
            full[j * size : (j + 1) * size, k * r : (k + 1) * r] = B[k * size : (k + 1) * size]
        B, r = full, len(used) * r
    out = {"lora_A.weight": A.contiguous(), "lora_B.weight": B.contiguous()}
    if "m.weight" in params:
        out["lora_magnitude_vector"] = params["m.weight"].reshape(-1).contiguous()
    return out, r


def _ia3_tensor(site: LinearSite, params: dict, config: LoRAConfig) -> torch.Tensor:
    n_parts, used = _parts(site, config)
    column = params["lora_B"] * config.alpha
    size = column.shape[0] // len(used)
    full = torch.ones(n_parts * size, 1, dtype=column.dtype)
    for k, j in enumerate(used):
        full[j * size : (j + 1) * size] = column[k * size : (k + 1) * size]
    return full


def _common_config(model, sites: list[LinearSite]) -> dict:
    return {
        "base_model_name_or_path": getattr(model.config, "name_or_path", None) or None,
        "fan_in_fan_out": any(isinstance(site.module, Conv1D) for site in sites),
        "inference_mode": True,
        "modules_to_save": None,
        "revision": None,
        "target_modules": sorted(site.path for site in sites),
        "task_type": None,
    }


def _lora_checkpoint(model, grouped, config: LoRAConfig) -> tuple[dict, dict]:
    if config.use_dora:
        fused = sorted(s.path for s in grouped if len(s.matrices) > 1)
        biased = [] if config.dora_unscaled_bias else sorted(s.path for s in grouped if s.has_bias)
        if fused:
            raise UnsupportedMethodError(
                "Cannot export a DoRA adapter on fused projections to PEFT: its magnitudes cover only the adapted "
                f"parts of the layer, PEFT's one per output unit of the whole layer ({', '.join(fused[:3])})."
            )
        if biased:
            raise UnsupportedMethodError(
                "Cannot export a DoRA adapter with dora_unscaled_bias=False (the reference's DoRA, which scales the "
                "bias too) on layers with a bias to PEFT: PEFT's DoRA adds the bias after the magnitude scaling "
                f"({', '.join(biased[:3])}). An adapter trained with dora_unscaled_bias=True exports."
            )
    weights, ranks = {}, {}
    for site, params in grouped.items():
        tensors, ranks[site.path] = _lora_tensors(site, params, config)
        prefix = f"{PEFT_PREFIX}{_model_path(model, site)}"
        weights.update({f"{prefix}.{k}": v for k, v in tensors.items()})
    scaling = config.alpha / config.r
    rank = ranks[min(ranks)] if len(set(ranks.values())) == 1 else config.r  # fused layers only: one larger rank
    extra = {p: r for p, r in ranks.items() if r != rank}
    cfg = _common_config(model, list(grouped)) | {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": scaling * rank,
        "lora_dropout": config.dropout,
        "bias": "none",
        "use_dora": config.use_dora,
        "use_rslora": False,
        "init_lora_weights": True,
        "rank_pattern": {re.escape(p): r for p, r in extra.items()},
        "alpha_pattern": {re.escape(p): scaling * r for p, r in extra.items()},
        "layers_to_transform": None,
        "layers_pattern": None,
    }
    return cfg, weights


def _model_path(model, site: LinearSite) -> str:
    for path, module in model.named_modules():
        if module is site.module:
            return path
    raise UnsupportedMethodError(f"{site.path} is not a module of {type(model).__name__}.")


def _ia3_checkpoint(model, grouped, config: LoRAConfig) -> tuple[dict, dict]:
    weights = {
        f"{PEFT_PREFIX}{_model_path(model, site)}.ia3_l": _ia3_tensor(site, params, config)
        for site, params in grouped.items()
    }
    cfg = _common_config(model, list(grouped)) | {
        "peft_type": "IA3",
        "feedforward_modules": [],
        "init_ia3_weights": True,
    }
    return cfg, weights


def export_to_peft(model, adapter_name: str, save_directory: str | Path) -> Path:
    """Write LoRA-family adapter ``adapter_name`` of ``model`` as a PEFT checkpoint into ``save_directory``.

    Raises :class:`~adapters.errors.UnsupportedMethodError` (nothing is written) for adapters PEFT cannot represent
    exactly. Returns the folder.
    """
    config = model._require_adapter(adapter_name)
    _check_exportable(adapter_name, config)
    grouped = _per_site(model, adapter_name)
    if config.composition_mode == "scale":
        cfg, weights = _ia3_checkpoint(model, grouped, config)
    else:
        cfg, weights = _lora_checkpoint(model, grouped, config)
    if adapter_name in (getattr(model, "heads", None) or {}):
        logger.warning("The head %r is not exported: PEFT checkpoints hold adapter weights only.", adapter_name)
    folder = Path(save_directory)
    save_folder(folder, PEFT_WEIGHTS_NAMES[0], weights, True, ADAPTER_CONFIG_NAME, cfg)
    return folder
