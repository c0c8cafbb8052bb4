"""The configs the contract suite runs, taken from the registry.

For every registered method: each identifier of ``ADAPTER_CONFIG_MAP`` that the method handles (aliases of the same
config run once), then the variants below, which exercise options the identifiers leave at their defaults. Unions
(``mam``, ``unipelt``) are a group of their own. A method registered without any config here fails
``test_every_registered_method_is_in_the_contract_suite``.
"""

from __future__ import annotations

import adapters
from adapters.configuration import ADAPTER_CONFIG_MAP, ConfigUnion
from adapters.methods import method_for_config, registered_methods
from tiny_models import FAMILIES

UNIONS = "unions"

# The families the config sweeps run on: tiny_models.FAMILIES without the model types that share a spec entry with
# one kept (RoBERTa, XLM-RoBERTa, ELECTRA: BERT's; Mistral: Llama's). Every method still runs on those in the breadth
# suite (test_breadth_contract.py); dropping them keeps tests/contract within CI time.
SWEEP_FAMILIES: tuple[str, ...] = tuple(
    f for f in FAMILIES if f not in ("roberta", "xlm-roberta", "electra", "mistral")
)

# method name -> extra variants (config strings, or names of SPECIAL configs)
VARIANTS: dict[str, list[str]] = {
    "bottleneck": [
        "compacter[reduction_factor=4]",
        "compacter++[reduction_factor=4]",
        "seq_bn[ln_before=True, ln_after=True, use_gating=True, scaling='learned']",
        "seq_bn[scaling='channel', residual_before_ln='post_add', adapter_residual_before_ln=True]",
        "double_seq_bn[reduction_factor={'0': 4, 'default': 16}, original_ln_before=True]",
        "seq_bn_inv[inv_adapter='glow', dropout=0.1]",
        "seq_bn[cross_adapter=True, mh_adapter=True, residual_before_ln=False]",
        "AdapterPlusConfig",
    ],
    "lora": [
        "lora[r=4, alpha=16, attn_matrices=['q', 'k', 'v'], intermediate_lora=True, output_lora=True]",
        "vera[intermediate_lora=True, output_lora=True, attn_matrices=['q', 'k', 'v']]",
    ],
    "mtl_lora": ["mtl_lora[n_up_projection=3, task_specific_matrix_type='linear', output_lora=True]"],
    "prefix_tuning": [
        "prefix_tuning[prefix_length=4, bottleneck_size=16]",
        "prefix_tuning[flat=True, prefix_length=3]",
        "prefix_tuning[prefix_length=3, bottleneck_size=8, use_gating=True, shared_gating=False, leave_out=[1]]",
    ],
    "prompt_tuning": ["prompt_tuning[prompt_length=3]", "prompt_tuning[prompt_length=2, combine='prefix_after_bos']"],
    "reft": [
        "noreft[prefix_positions=2, suffix_positions=2, r=2, layers=[0]]",
        "direft[prefix_positions=1, suffix_positions=1, tied_weights=True]",
    ],
    UNIONS: ["SmallMAM"],
}

# configs a config string cannot express
SPECIAL = {
    "AdapterPlusConfig": lambda: adapters.AdapterPlusConfig(),
    # a config string mam[...] would apply its keys to both members
    "SmallMAM": lambda: adapters.MAMConfig(
        prefix_tuning=adapters.PrefixTuningConfig(bottleneck_size=16, prefix_length=5)
    ),
}

# identifiers whose defaults do not fit tiny models (prefixes too heavy; Compacter's reduction_factor=32 leaves a
# bottleneck of 1 on hidden size 32, not a multiple of phm_dim=4), replaced by their variants above
SKIPPED_IDENTIFIERS = {"prefix_tuning", "prefix_tuning_flat", "mam", "compacter", "compacter++"}


def load(spec: str):
    """The config object of a contract spec."""
    return SPECIAL[spec]() if spec in SPECIAL else adapters.AdapterConfig.load(spec)


def _group(config) -> str:
    return UNIONS if isinstance(config, ConfigUnion) else method_for_config(config).name


def identifiers_by_group() -> dict[str, list[str]]:
    """Every identifier of the config map by method (or ``"unions"``); of aliases of an equal config (``pfeiffer``
    and ``seq_bn``) the last, current name."""
    chosen: list[tuple[str, object]] = []
    for name, config in reversed(ADAPTER_CONFIG_MAP.items()):
        if name not in SKIPPED_IDENTIFIERS and not any(config == other for _, other in chosen):
            chosen.append((name, config))
    groups: dict[str, list[str]] = {}
    for name, config in reversed(chosen):
        groups.setdefault(_group(config), []).append(name)
    return groups


def configs_for(*groups: str) -> list[str]:
    """The contract specs of the given methods (registry names) or ``"unions"``, identifiers first."""
    identifiers = identifiers_by_group()
    return [spec for group in groups for spec in [*identifiers.get(group, []), *VARIANTS.get(group, [])]]


def registered_groups() -> set[str]:
    return {method.name for method in registered_methods()} | {UNIONS}
