"""The registry of adapters and fusions added to one model, saved in the model's ``config.json``."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import AdapterConfigError, AdapterExistsError, AdapterNotFoundError
from .base import AdapterConfig, ConfigTypeError
from .fusion import ADAPTERFUSION_CONFIG_MAP, DEFAULT_ADAPTERFUSION_CONFIG, AdapterFusionConfig
from .hashing import get_adapter_config_hash
from .maps import ADAPTER_CONFIG_MAP, DEFAULT_ADAPTER_CONFIG
from .reft import ReftConfig
from .union import ConfigUnion

__all__ = ["ModelAdaptersConfig"]

logger = logging.getLogger(__name__)


class ModelAdaptersConfig:
    """Which adapters and fusions a model has, and their configs (the ``"adapters"`` entry of ``config.json``).

    Adapter configs are stored once per distinct config: ``adapters`` maps each adapter name to a key of
    ``config_map`` (the config's hash) or to an identifier of ``ADAPTER_CONFIG_MAP``; fusions likewise use
    ``fusions`` / ``fusion_config_map`` and ``fusion_name_map`` (fusion name → fused adapter names).

    Args:
        **kwargs: The entries of a saved dict (see :meth:`from_dict`).

    Attributes:
        adapters: Adapter name → config key.
        config_map: Config key → adapter config.
        fusions: Fusion name → fusion config key.
        fusion_config_map: Fusion config key → fusion config.
        fusion_name_map: Fusion name → names of the fused adapters.
        active_setup: The active adapter setup (runtime state of the model, not saved).
        skip_layers: Layer indices skipped by adapters (runtime state of the model, not saved).
    """

    def __init__(self, **kwargs: Any) -> None:
        self.adapters: dict[str, str] = {
            name: _legacy_adapter_value(value) for name, value in dict(kwargs.pop("adapters", None) or {}).items()
        }
        self.config_map: dict[str, AdapterConfig] = {
            key: AdapterConfig.load(value) for key, value in dict(kwargs.pop("config_map", None) or {}).items()
        }
        self.fusions: dict[str, str] = dict(kwargs.pop("fusions", None) or {})
        self.fusion_config_map: dict[str, AdapterFusionConfig] = {
            key: AdapterFusionConfig.load(value)
            for key, value in dict(kwargs.pop("fusion_config_map", None) or {}).items()
        }
        self.fusion_name_map: dict[str, list[str]] = {
            name: list(names) for name, names in dict(kwargs.pop("fusion_name_map", None) or {}).items()
        }
        # adapter-transformers v1/v2 stored fusions as a list of names plus one shared fusion config
        legacy_fusions = kwargs.pop("adapter_fusion_models", None) or []
        legacy_fusion_config = kwargs.pop("adapter_fusion", None)
        for names in legacy_fusions:
            names = names.split(",") if isinstance(names, str) else list(names)
            if ",".join(names) not in self.fusions:
                self.add_fusion(names, legacy_fusion_config)
        if kwargs:
            logger.warning("Ignoring unknown key(s) of the model adapters config: %s", ", ".join(map(repr, kwargs)))
        self.active_setup: Any = None
        self.skip_layers: Sequence[int] | None = None

    # ------------------------------------------------------------------ adapters

    def __contains__(self, name: object) -> bool:
        return name in self.adapters

    def __iter__(self) -> Iterator[str]:
        return iter(self.adapters)

    def __len__(self) -> int:
        return len(self.adapters)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelAdaptersConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def add(self, adapter_name: str, config: AdapterConfig | Mapping[str, Any] | str | None = None) -> str:
        """Registers an adapter.

        Args:
            adapter_name: The new adapter's name.
            config: Its config (``None``: ``DEFAULT_ADAPTER_CONFIG``). An identifier of ``ADAPTER_CONFIG_MAP`` is
                stored as is; anything else is loaded and stored under its hash (or a suffixed hash if a different
                config already has that hash).

        Returns:
            The key under which the config is stored.

        Raises:
            AdapterExistsError: The name is taken.
        """
        if adapter_name in self.adapters:
            raise AdapterExistsError(f"An adapter named {adapter_name!r} already exists.")
        config = DEFAULT_ADAPTER_CONFIG if config is None else config
        if isinstance(config, str) and (config in ADAPTER_CONFIG_MAP or config in self.config_map):
            key = config
        else:
            key = _store(self.config_map, AdapterConfig.load(config))
        self.adapters[adapter_name] = key
        return key

    def get(self, adapter_name: str) -> AdapterConfig | None:
        """Returns the config of an adapter, or ``None`` if there is no such adapter."""
        if adapter_name not in self.adapters:
            return None
        key = self.adapters[adapter_name]
        config = self.config_map.get(key) if key in self.config_map else ADAPTER_CONFIG_MAP.get(key)
        return AdapterConfig.load(config) if config is not None else None

    def update(self, adapter_name: str, config: AdapterConfig) -> str:
        """Replaces the config of an existing adapter (keeping its position); returns the new storage key."""
        if adapter_name not in self.adapters:
            raise AdapterNotFoundError(f"No adapter named {adapter_name!r}. Adapters: {', '.join(self.adapters)}.")
        old_key = self.adapters[adapter_name]
        key = _store(self.config_map, AdapterConfig.load(config))
        self.adapters[adapter_name] = key
        if old_key != key and old_key in self.config_map and old_key not in self.adapters.values():
            del self.config_map[old_key]
        return key

    def remove(self, adapter_name: str) -> None:
        """Removes an adapter (and its stored config if no other adapter uses it).

        Raises:
            AdapterNotFoundError: There is no such adapter.
        """
        if adapter_name not in self.adapters:
            raise AdapterNotFoundError(f"No adapter named {adapter_name!r}. Adapters: {', '.join(self.adapters)}.")
        key = self.adapters.pop(adapter_name)
        if key in self.config_map and key not in self.adapters.values():
            del self.config_map[key]

    def match(
        self,
        adapter_name: str,
        config_type: type | tuple[type, ...],
        layer_idx: int | None = None,
        location_key: str | None = None,
    ) -> AdapterConfig | None:
        """Returns an adapter's config if it applies at a given place of the model.

        The config matches when it is an instance of ``config_type`` (for a :class:`ConfigUnion`: its single member
        that is), ``layer_idx`` is not in its ``leave_out`` (for ReFT: is in its ``layers`` unless ``"all"``), and
        ``location_key`` (e.g. ``"mh_adapter"``, ``"output_adapter"``, ``"selfattn_lora"``) is set in it.

        Args:
            adapter_name: The adapter.
            config_type: Config class(es) the caller handles, e.g. ``BnConfig``.
            layer_idx: Global layer index, or ``None`` to skip the layer check.
            location_key: A boolean field that must be true, or ``None`` to skip the location check.

        Returns:
            The matching config (union member), or ``None``.

        Raises:
            AdapterConfigError: Several members of a union match the same place.
        """
        config = self.get(adapter_name)
        if config is None:
            return None
        if isinstance(config, ConfigUnion) and not isinstance(config, config_type):
            candidates = list(config.configs)
        else:
            candidates = [config]
        matches = [c for c in candidates if _applies(c, config_type, layer_idx, location_key)]
        if len(matches) > 1:
            raise AdapterConfigError(
                f"Several parts of adapter {adapter_name!r} ({', '.join(type(m).__name__ for m in matches)}) apply "
                f"to layer {layer_idx} at {location_key!r}; use only one adapter block per location."
            )
        return matches[0] if matches else None

    def common_config_value(self, adapter_names: Iterable[str], attribute: str) -> Any:
        """Returns the value that all the given adapters have for a config field (used to place fusion layers).

        Raises:
            AdapterNotFoundError: An adapter does not exist.
            AdapterConfigError: The adapters disagree.
        """
        values = {}
        for name in adapter_names:
            config = self.get(name)
            if config is None:
                raise AdapterNotFoundError(f"No adapter named {name!r}.")
            values[name] = config.get(attribute)
        distinct = {repr(v) for v in values.values()}
        if len(distinct) > 1:
            raise AdapterConfigError(f"All adapters must have the same value of {attribute!r}; got {values!r}.")
        return next(iter(values.values()), None)

    # ------------------------------------------------------------------ fusions

    def add_fusion(
        self,
        adapter_names: Sequence[str],
        config: AdapterFusionConfig | Mapping[str, Any] | str | None = None,
        fusion_name: str | None = None,
    ) -> str:
        """Registers a fusion of adapters.

        Args:
            adapter_names: The fused adapters.
            config: The fusion config (``None``: ``DEFAULT_ADAPTERFUSION_CONFIG``).
            fusion_name: The fusion's name (default: the adapter names joined by ``","``).

        Returns:
            The fusion's name.

        Raises:
            AdapterExistsError: A fusion of that name exists.
        """
        fusion_name = fusion_name or ",".join(adapter_names)
        if fusion_name in self.fusions:
            raise AdapterExistsError(f"An adapter fusion named {fusion_name!r} already exists.")
        config = DEFAULT_ADAPTERFUSION_CONFIG if config is None else config
        if isinstance(config, str) and (config in ADAPTERFUSION_CONFIG_MAP or config in self.fusion_config_map):
            key = config
        else:
            key = _store(self.fusion_config_map, AdapterFusionConfig.load(config))
        self.fusions[fusion_name] = key
        self.fusion_name_map[fusion_name] = list(adapter_names)
        return fusion_name

    def get_fusion(self, fusion_name: str) -> tuple[AdapterFusionConfig | None, list[str] | None]:
        """Returns ``(fusion config, fused adapter names)``, or ``(None, None)`` if there is no such fusion."""
        if fusion_name not in self.fusions:
            return None, None
        key = self.fusions[fusion_name]
        config = self.fusion_config_map[key] if key in self.fusion_config_map else ADAPTERFUSION_CONFIG_MAP.get(key)
        names = self.fusion_name_map.get(fusion_name) or fusion_name.split(",")
        return config, list(names)

    def remove_fusion(self, fusion_name: str) -> None:
        """Removes a fusion (and its stored config if no other fusion uses it).

        Raises:
            AdapterNotFoundError: There is no such fusion.
        """
        if fusion_name not in self.fusions:
            raise AdapterNotFoundError(f"No adapter fusion named {fusion_name!r}.")
        key = self.fusions.pop(fusion_name)
        self.fusion_name_map.pop(fusion_name, None)
        if key in self.fusion_config_map and key not in self.fusions.values():
            del self.fusion_config_map[key]

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """Returns the JSON-serializable form written to ``config.json`` under ``"adapters"``."""
        return {
            "adapters": dict(self.adapters),
            "config_map": {k: v.to_dict() for k, v in self.config_map.items()},
            "fusions": dict(self.fusions),
            "fusion_config_map": {k: v.to_dict() for k, v in self.fusion_config_map.items()},
            "fusion_name_map": copy.deepcopy(self.fusion_name_map),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ModelAdaptersConfig:
        """Builds the registry from :meth:`to_dict` output (or older formats).

        Also reads the legacy forms: ``adapters`` values that are ``(type, config name)`` pairs (v1), and the
        ``adapter_fusion_models`` (list of fusion names) / ``adapter_fusion`` (their shared config) keys.

        Raises:
            ConfigTypeError: ``data`` is not a mapping.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigTypeError(f"Expected a mapping for the model adapters config, got {type(data).__name__}.")
        return cls(**copy.deepcopy(dict(data)))

    def __repr__(self) -> str:
        return f"ModelAdaptersConfig(adapters={self.adapters!r}, fusions={self.fusions!r})"


def _legacy_adapter_value(value: Any) -> str:
    # adapter-transformers v1 stored (adapter type, config name); JSON turns the tuple into a list.
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value[1] or value[0]
    return value


def _store(config_map: dict[str, Any], config: AdapterConfig) -> str:
    """Stores a config under its hash, adding a suffix if a different config already has that hash."""
    base = get_adapter_config_hash(config)
    key, n = base, 0
    while key in config_map and config_map[key] != config:
        n += 1
        key = f"{base}-{n}"
    config_map[key] = config
    return key


def _applies(
    config: AdapterConfig, config_type: type | tuple[type, ...], layer_idx: int | None, location_key: str | None
) -> bool:
    if not isinstance(config, config_type):
        return False
    if layer_idx is not None:
        if layer_idx in (config.get("leave_out") or []):
            return False
        if isinstance(config, ReftConfig) and config.layers != "all" and layer_idx not in config.layers:
            return False
    return location_key is None or bool(config.get(location_key, False))
