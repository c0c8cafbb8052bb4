"""Short, stable hashes of adapter configs, compatible with the reference library's hashes.

The hash keys ``ModelAdaptersConfig.config_map`` and identifies configs on model hubs, so it must give the same
value as ``adapters`` 1.3 for every config that version can express.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .base import AdapterConfig, plain

__all__ = ["get_adapter_config_hash", "HASH_IGNORED_DEFAULTS"]

# Top-level keys dropped when they have these values: defaults of adapter-transformers v2 options, so that
# configs saved before those options existed keep their hash.
HASH_IGNORED_DEFAULTS: dict[str, Any] = {
    "phm_layer": True,
    "phm_dim": 4,
    "factorized_phm_W": True,
    "shared_W_phm": False,
    "shared_phm_rule": True,
    "factorized_phm_rule": False,
    "phm_c_init": "normal",
    "phm_init_range": 0.0001,
    "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform",
    "phm_rank": 1,
    "phm_bias": True,
    "init_weights": "bert",
    "scaling": 1.0,
}

# Fields this library added (the reference had them as class attributes); dropped at their default value, also
# in union members, so that hashes equal the reference's.
_NEW_FIELD_DEFAULTS: dict[str, Any] = {
    "subtract_projection": True,
    "random_uniform_scale": 0.5,
    "dora_unscaled_bias": False,
}


def _drop_new_field_defaults(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if not (k in _NEW_FIELD_DEFAULTS and v == _NEW_FIELD_DEFAULTS[k])}


def _hash_items(config: dict[str, Any], ignore_params: Iterable[str]) -> dict[str, Any]:
    """The key/value pairs that are hashed.

    A union is flattened to ``{"0.r": 8, "1.prefix_length": 30, ...}`` (the reference hashes a union's
    ``Mapping.items()``, which have that form), and the ignored defaults only apply to top-level keys.
    """
    ignored = set(ignore_params)
    if config.get("architecture") == "union" and isinstance(config.get("configs"), list):
        return {
            f"{i}.{k}": v
            for i, member in enumerate(config["configs"])
            for k, v in _drop_new_field_defaults(member).items()
            if k not in ignored
        }
    items = _drop_new_field_defaults(config)
    for key, default in HASH_IGNORED_DEFAULTS.items():
        if key in items and items[key] == default:
            del items[key]
    return {k: v for k, v in items.items() if k not in ignored}


def _minimize(value: Any) -> Any:
    # Drops falsy values recursively through mappings; lists are kept as they are (as in the reference).
    if isinstance(value, Mapping):
        return {k: _minimize(v) for k, v in value.items() if v}
    return value


def get_adapter_config_hash(
    config: AdapterConfig | Mapping[str, Any], length: int = 16, ignore_params: Iterable[str] = ()
) -> str:
    """Computes the hash of a config.

    Keys at their :data:`HASH_IGNORED_DEFAULTS` value and keys in ``ignore_params`` are dropped, then all falsy
    values (recursively through dicts), and the SHA-1 of the key-sorted JSON is truncated to ``length``. A union is
    hashed as the flat mapping ``{"<member index>.<key>": value}``; ``ignore_params`` then applies to member keys.

    Args:
        config: A config or its dict form.
        length: Number of hex digits returned.
        ignore_params: Keys (of the config, or of each union member) left out of the hash, e.g.
            ``["dropout", "init_weights"]`` to compare configs for averaging.

    Returns:
        The hex digest prefix, e.g. ``"9076f36a74755ac4"`` for ``SeqBnConfig()``.
    """
    config_dict = config.to_dict() if isinstance(config, AdapterConfig) else plain(config)
    text = json.dumps(_minimize(_hash_items(config_dict, ignore_params)), sort_keys=True)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:length]
