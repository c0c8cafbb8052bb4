"""Loading PEFT checkpoints (LoRA, DoRA, (IA)³) as adapters of this library.

A PEFT checkpoint is a folder with ``adapter_config.json`` (holding ``peft_type``) and ``adapter_model.safetensors``
(or ``.bin``) with keys ``base_model.model.<module path>.lora_A.weight`` etc. (see the PEFT reference, §3).
``load_adapter`` recognises such a folder and converts it; the outputs are the same as PEFT's (tested against the
real ``peft`` library within 1e-5).

What converts, exactly:

* **LoRA**: ``A``/``B`` become ``lora_A``/``lora_B``; ``scaling = lora_alpha / r`` as ours (rsLoRA's
  ``lora_alpha / √r`` by adjusting ``alpha``). A fused projection (GPT-2's ``c_attn``) gets ``A`` once per part.
* **DoRA** (``use_dora``). PEFT leaves a layer's bias out of the magnitude scaling while ours by default (the
  reference's) scales it, so DoRA on layers with a bias (BERT) loads with ``dora_unscaled_bias=True``, which
  computes PEFT's formula. PEFT puts the scaled update in the weight norm and ours the unscaled one, so the scaling
  is folded into ``lora_B`` (``alpha`` becomes ``r``).
* **(IA)³**: output scaling vectors ``ia3_l`` become ``lora_B``. PEFT's "feed-forward" vectors scale the *input* of
  a layer; for gated MLPs (Llama, Mistral, Qwen2) the input of ``down_proj`` is ``act(gate(x)) ⊙ up_proj(x)``, so
  they equal scaling the output of ``up_proj``, which is what ours does (multiplied with ``up_proj``'s own vector
  when both are adapted). Elsewhere they raise.

Our configs adapt the same kinds of layer in every layer not left out (attention q/k/v, the two feed-forward
layers), so the adapted layers must form such a pattern; other targets (``o_proj``, ``gate_proj``, BERT's
``attention.output.dense``, embeddings), ``modules_to_save`` weights, per-module ranks and PEFT's other variants
raise :class:`~adapters.errors.UnsupportedMethodError` saying what cannot be represented.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from ..configuration import AdapterConfig, IA3Config, LoRAConfig
from ..errors import CheckpointError, UnsupportedMethodError
from .format import ADAPTER_CONFIG_NAME, read_json, read_weights
from .peft_sites import PEFT_PREFIX, PEFT_WEIGHTS_NAMES, LinearSite, find_site, lora_sites

__all__ = ["read_peft_checkpoint"]

_KEY = re.compile(r"^(?P<path>.+)\.(?P<param>lora_A\.weight|lora_B\.weight|lora_magnitude_vector|ia3_l)$")
# options of a PEFT LoRA config that change what it computes and have no equivalent here (when set)
_UNSUPPORTED_LORA_OPTIONS = (
    "lora_bias",
    "layer_replication",
    "alora_invocation_tokens",
    "arrow_config",
    "use_bdlora",
    "monteclora_config",
    "kasa_config",
    "use_qalora",
    "target_parameters",
    "trainable_token_indices",
    "rank_pattern",
    "alpha_pattern",
)
# families whose feed-forward output layer receives act(gate(x)) * up(x): scaling that input equals scaling up(x)
_GATED_FFN = {"llama": ("mlp.down_proj", "mlp.up_proj"), "qwen2": ("mlp.down_proj", "mlp.up_proj")}


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    for name in PEFT_WEIGHTS_NAMES:
        if (folder / name).is_file():
            return read_weights(folder / name)
    raise CheckpointError(f"No PEFT weights in {folder}: expected {' or '.join(PEFT_WEIGHTS_NAMES)}.")


def _by_module(tensors: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """``{module path: {param: tensor}}``; keys that are not adapter weights raise."""
    grouped: dict[str, dict[str, torch.Tensor]] = defaultdict(dict)
    others = []
    for key, value in tensors.items():
        match = _KEY.match(key.removeprefix(PEFT_PREFIX))
        if match is None:
            others.append(key)
        else:
            grouped[match["path"]][match["param"]] = value
    if others:
        raise UnsupportedMethodError(
            f"The PEFT checkpoint holds weights that are not adapter weights ({', '.join(sorted(others)[:4])}"
            f"{', ...' if len(others) > 4 else ''}): modules_to_save copies, biases or embeddings cannot be loaded "
            "as an adapter of this library. Save the PEFT adapter without modules_to_save."
        )
    return grouped


def _peft_matches(spec: Any, name: str) -> bool:
    """PEFT's module matching: a list matches a name equal to an entry or ending with ``.entry``; a string is a
    regular expression for the whole name."""
    if not spec:
        return False
    if isinstance(spec, str):
        return re.fullmatch(spec, name) is not None
    return any(name == entry or name.endswith(f".{entry}") for entry in spec)


def _check_options(cfg: dict[str, Any]) -> None:
    used = [option for option in _UNSUPPORTED_LORA_OPTIONS if cfg.get(option) not in (None, False, "none", [], {})]
    if used:
        raise UnsupportedMethodError(
            f"The PEFT LoRA checkpoint uses {', '.join(f'{o}={cfg[o]!r}' for o in used)}, which this library's "
            "LoRA cannot represent (one rank and alpha for all layers, no bias, no LoRA variants)."
        )


def _place(sites: dict[str, LinearSite], grouped: dict[str, Any]) -> dict[LinearSite, Any]:
    """Map PEFT module paths to our sites; unknown ones raise."""
    placed, unknown = {}, []
    for path, params in grouped.items():
        site = find_site(sites, path)
        if site is None:
            unknown.append(path)
        else:
            placed[site] = params
    if unknown:
        kinds = sorted({re.sub(r"\.\d+\.", ".<i>.", s.path) for s in sites.values()})
        raise UnsupportedMethodError(
            f"The PEFT checkpoint adapts layers this library's LoRA (the reference's format) cannot adapt: "
            f"{', '.join(sorted(unknown)[:4])}{', ...' if len(unknown) > 4 else ''}. Adaptable here: the attention "
            f"q/k/v projections and the two feed-forward layers ({', '.join(kinds)})."
        )
    return placed


def _pattern(sites: dict[str, LinearSite], placed: dict[LinearSite, Any]) -> dict[str, Any]:
    """The config flags that adapt exactly the placed sites; raises if no config does."""
    layers = {site.layer for site in placed}
    kinds = {kind for site in placed for kind in site.kinds}
    expected = {s for s in sites.values() if s.layer in layers and set(s.kinds) <= kinds}
    if expected != set(placed):
        missing = sorted(s.path for s in expected - set(placed))
        raise UnsupportedMethodError(
            "The PEFT checkpoint adapts different layer kinds in different layers (not adapted here although the "
            f"pattern needs them: {', '.join(missing[:4])}); this library's LoRA adapts the same kinds of layer in "
            "every layer not left out."
        )
    matrices = [m for m in "qkv" if ("selfattn", m) in kinds]
    all_layers = {s.layer for s in sites.values()}
    return {
        "selfattn_lora": bool(matrices),
        "attn_matrices": matrices or ["q", "v"],
        "intermediate_lora": ("intermediate", None) in kinds,
        "output_lora": ("output", None) in kinds,
        "leave_out": sorted(all_layers - layers),
    }


def _model_keys(model, site: LinearSite, name: str) -> str:
    names = {id(m): n for n, m in model.named_modules()}
    return f"{names[id(site.module)]}.loras.{name}"


def _lora(model, name: str, cfg: dict, placed: dict[LinearSite, dict]) -> tuple[AdapterConfig, dict]:
    _check_options(cfg)
    r, alpha = int(cfg.get("r", 8)), float(cfg.get("lora_alpha", 8))
    scaling = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    dora = bool(cfg.get("use_dora"))
    unscaled_bias = dora and any(site.has_bias for site in placed)  # PEFT adds the bias after the scaling
    fold = dora and not math.isclose(scaling, 1.0)  # DoRA: the norm must see the scaled update, as PEFT's
    tensors = {}
    for site, params in placed.items():
        if "lora_A.weight" not in params or "lora_B.weight" not in params:
            raise CheckpointError(f"The PEFT checkpoint lacks lora_A or lora_B for {site.path}.")
        prefix, parts = _model_keys(model, site, name), max(1, len(site.matrices))
        tensors[f"{prefix}.lora_A"] = params["lora_A.weight"].repeat(parts, 1)
        tensors[f"{prefix}.lora_B"] = params["lora_B.weight"] * (scaling if fold else 1.0)
        if dora:
            if "lora_magnitude_vector" not in params:
                raise CheckpointError(f"The PEFT DoRA checkpoint lacks lora_magnitude_vector for {site.path}.")
            tensors[f"{prefix}.m.weight"] = params["lora_magnitude_vector"].reshape(-1, 1)
    config = LoRAConfig(
        **_pattern(lora_sites(model), placed),
        r=r,
        alpha=float(r) if fold else scaling * r,
        dropout=float(cfg.get("lora_dropout", 0.0) or 0.0),
        use_dora=dora,
        dora_unscaled_bias=unscaled_bias,
    )
    return config, tensors


def _ia3(model, name: str, cfg: dict, grouped: dict[str, dict]) -> tuple[AdapterConfig, dict]:
    sites = lora_sites(model)
    family = model._adapter_runtime.spec.name
    feedforward = {path for path in grouped if _peft_matches(cfg.get("feedforward_modules"), path)}
    if feedforward and family not in _GATED_FFN:
        raise UnsupportedMethodError(
            f"PEFT's (IA)³ scales the input of its feed-forward modules ({', '.join(sorted(feedforward)[:3])}); "
            f"this library's (IA)³ scales layer outputs, which is the same only for gated MLPs (Llama, Mistral, "
            f"Qwen2), not for {family}. Train the PEFT adapter with feedforward_modules=[] to convert it."
        )
    source, target = _GATED_FFN.get(family, ("", ""))
    moved: set[str] = set()

    def redirect(path: str) -> str:
        if path in feedforward and path.endswith(source):
            moved.add(path[: -len(source)] + target)
            return path[: -len(source)] + target
        return path

    combined: dict[str, dict] = {}
    for path, params in grouped.items():
        if "ia3_l" not in params:
            raise CheckpointError(f"The PEFT (IA)³ checkpoint lacks ia3_l for {path}.")
        target_path = redirect(path)
        if target_path in combined:  # up_proj's output vector and down_proj's input vector: their product
            params = {"ia3_l": combined[target_path]["ia3_l"].reshape(-1) * params["ia3_l"].reshape(-1)}
        combined[target_path] = params
    placed = _place(sites, combined)
    tensors = {}
    for site, params in placed.items():
        if site.has_bias and any(p == site.path or p.endswith(f".{site.path}") for p in moved):
            raise UnsupportedMethodError(f"{site.path} has a bias; its input scaling cannot be moved to its output.")
        tensors[f"{_model_keys(model, site, name)}.lora_B"] = params["ia3_l"].reshape(-1, 1)
    return IA3Config(**_pattern(sites, placed)), tensors


def read_peft_checkpoint(model, folder: Path, name: str) -> tuple[str, AdapterConfig, dict[str, torch.Tensor]]:
    """``(name, config, tensors)`` for the PEFT checkpoint in ``folder``: the tensors are keyed as ``model``'s
    state dict, ready to be copied into a new adapter ``name`` with ``config``."""
    cfg = read_json(Path(folder) / ADAPTER_CONFIG_NAME)
    peft_type = str(cfg.get("peft_type", "")).upper()
    if peft_type not in ("LORA", "IA3"):
        raise UnsupportedMethodError(
            f"PEFT checkpoints of type {peft_type!r} cannot be loaded; supported: LORA (with or without DoRA), IA3."
        )
    grouped = _by_module(_weights(Path(folder)))
    if not grouped:
        raise CheckpointError(f"The PEFT checkpoint in {folder} holds no adapter weights.")
    if peft_type == "IA3":
        config, tensors = _ia3(model, name, cfg, grouped)
    else:
        config, tensors = _lora(model, name, cfg, _place(lora_sites(model), grouped))
    return name, config, tensors
