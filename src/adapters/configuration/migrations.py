"""Upgrades of adapter config dicts saved by older library versions.

Each migration is a small pure function ``(config_dict, saved_version) -> new dict`` that fixes one old format or
bug and says which versions it applies to. :func:`migrate_saved_config` runs all of them in order; the adapter
loader calls it with the ``"config"`` and ``"version"`` entries of an ``adapter_config.json``.

Versions look like ``"adapters.1.3.0"`` (this library and ``adapters``) or ``"3.2.1"`` (adapter-transformers);
files written by adapter-transformers v1 have no version at all.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from packaging.version import InvalidVersion, Version

__all__ = [
    "MIGRATIONS",
    "migrate_saved_config",
    "map_v1_invertible_adapter",
    "rename_legacy_non_linearity",
    "fix_lora_alpha_before_1_1",
]

logger = logging.getLogger(__name__)

_ADAPTERS_PREFIX = "adapters."


def _members(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The dicts to migrate: the config itself, or the members of a union."""
    if config.get("architecture") == "union" and isinstance(config.get("configs"), list):
        return [m for m in config["configs"] if isinstance(m, dict)]
    return [config]


def map_v1_invertible_adapter(config: dict[str, Any], version: str | None) -> dict[str, Any]:
    """adapter-transformers v1 (any version): ``invertible_adapter: {block_type, reduction_factor}`` nested dict.

    Maps it to ``inv_adapter`` / ``inv_adapter_reduction_factor``; an empty or null value is dropped.
    """
    config = copy.deepcopy(config)
    for member in _members(config):
        if "invertible_adapter" not in member:
            continue
        legacy = member.pop("invertible_adapter")
        if isinstance(legacy, Mapping) and legacy:
            member["inv_adapter"] = legacy.get("block_type")
            member["inv_adapter_reduction_factor"] = legacy.get("reduction_factor")
    return config


_LEGACY_ACTIVATIONS = {"gelu": "gelu_new", "gelu_orig": "gelu"}


def rename_legacy_non_linearity(config: dict[str, Any], version: str | None) -> dict[str, Any]:
    """Files without a version (adapter-transformers v1): ``"gelu"`` meant ``gelu_new``, ``"gelu_orig"`` ``gelu``."""
    if version is not None:
        return config
    config = copy.deepcopy(config)
    for member in _members(config):
        name = member.get("non_linearity")
        if isinstance(name, str) and name.lower() in _LEGACY_ACTIVATIONS:
            member["non_linearity"] = _LEGACY_ACTIVATIONS[name.lower()]
    return config


def fix_lora_alpha_before_1_1(config: dict[str, Any], version: str | None) -> dict[str, Any]:
    """``adapters`` 0.1.0 to 1.0.x ignored LoRA's ``alpha`` (scaling was 1); set ``alpha = r`` to keep behaviour.

    Applies to ``"adapters.X"`` versions below 1.1.0 (reference PR #770), to LoRA configs and LoRA union members.
    """
    if not version or not version.startswith(_ADAPTERS_PREFIX):
        return config
    try:
        if Version(version[len(_ADAPTERS_PREFIX) :]) >= Version("1.1.0"):
            return config
    except InvalidVersion:
        return config
    config = copy.deepcopy(config)
    for member in _members(config):
        if member.get("architecture") == "lora" and "r" in member and member.get("alpha") != member["r"]:
            logger.warning(
                "LoRA config saved by %s: setting alpha=%s (was %s) to reproduce that version's scaling.",
                version,
                member["r"],
                member.get("alpha"),
            )
            member["alpha"] = member["r"]
    return config


MIGRATIONS: tuple[Callable[[dict[str, Any], str | None], dict[str, Any]], ...] = (
    map_v1_invertible_adapter,
    rename_legacy_non_linearity,
    fix_lora_alpha_before_1_1,
)


def migrate_saved_config(config_dict: Mapping[str, Any], version: str | None) -> dict[str, Any]:
    """Applies every migration in :data:`MIGRATIONS` to a saved config dict.

    Args:
        config_dict: The ``"config"`` entry of a saved ``adapter_config.json`` (not modified).
        version: Its ``"version"`` entry, or ``None`` when the file has none.

    Returns:
        A new, upgraded dict, ready for ``AdapterConfig.load``.
    """
    config = copy.deepcopy(dict(config_dict))
    for migration in MIGRATIONS:
        config = migration(config, version)
    return config
