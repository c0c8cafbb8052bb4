"""Combinations of several adapter methods in one adapter: ConfigUnion and the MAM and UniPELT presets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import AdapterConfigError, ConfigFieldError
from .base import _FAMILIES, AdapterConfig, ConfigTypeError
from .bottleneck import BnConfig, ParBnConfig, SeqBnConfig
from .lora import LoRAConfig
from .prefix import PrefixTuningConfig

__all__ = ["ConfigUnion", "MAMConfig", "UniPELTConfig"]


@dataclass(eq=False, init=False)
class ConfigUnion(AdapterConfig):
    """Several adapter methods used together as one adapter (as in He et al., 2022, "Towards a Unified View").

    Members must be adapter configs (not unions). Two members of the same architecture conflict, unless one of
    them has a non-empty ``leave_out`` or, for bottleneck adapters, they differ in both ``mh_adapter`` and
    ``output_adapter`` (so they never sit at the same place).

    Indexing: ``union[0]`` is the first member, ``union["0.reduction_factor"]`` a field of it. :meth:`replace`
    applies the changes to every member.

    Attributes:
        configs: The member configs.
    """

    architecture: ClassVar[str | None] = "union"

    configs: tuple[AdapterConfig, ...]

    def __init__(self, *configs: AdapterConfig) -> None:
        object.__setattr__(self, "configs", tuple(configs))
        self.__post_init__()

    def __post_init__(self) -> None:
        type_problems = [
            f"member {i}: expected an adapter config that is not a ConfigUnion (unions cannot be nested), "
            f"got {type(c).__name__ if isinstance(c, AdapterConfig) else repr(c)}"
            for i, c in enumerate(self.configs)
            if not isinstance(c, AdapterConfig) or isinstance(c, ConfigUnion) or c._registry_root != "adapter"
        ]
        if not self.configs:
            type_problems.append("configs: a ConfigUnion needs at least one member config")
        if type_problems:
            raise ConfigTypeError(self._problem_message(type_problems))
        conflicts = [
            f"members {i} ({type(a).__name__}) and {j} ({type(b).__name__}): {reason}"
            for (i, a), (j, b) in itertools.combinations(enumerate(self.configs), 2)
            if (reason := _conflict(a, b))
        ]
        if conflicts:
            raise AdapterConfigError(self._problem_message(conflicts))
        self._seal()

    # ------------------------------------------------------------------ mapping interface

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, int):
            return self.configs[key]
        if key == "architecture":
            return self.architecture
        if key == "configs":
            return self.configs
        index, dot, sub_key = key.partition(".")
        if dot and index.isdigit() and int(index) < len(self.configs):
            return self.configs[int(index)][sub_key]
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        for i, config in enumerate(self.configs):
            for key in config:
                yield f"{i}.{key}"

    def __len__(self) -> int:
        return sum(len(config) for config in self.configs)

    def members(self) -> tuple[AdapterConfig, ...]:
        return tuple(self.configs)

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """Returns ``{"architecture": "union", "configs": [member dicts]}``."""
        return {"architecture": self.architecture, "configs": [c.to_dict() for c in self.configs]}

    def replace(self, **changes: Any) -> ConfigUnion:
        """Returns a union whose members all have the changes applied.

        Raises:
            ConfigFieldError: A key is not a field of every member.
        """
        missing = [type(c).__name__ for c in self.configs if any(k not in c._field_names() for k in changes)]
        if missing:
            raise ConfigFieldError(
                f"replace() on a ConfigUnion applies to every member, but {', '.join(missing)} lack(s) some of "
                f"the fields {', '.join(repr(k) for k in changes)}."
            )
        return self._from_members([c.replace(**changes) for c in self.configs])

    @classmethod
    def _from_members(cls, members: list[AdapterConfig]) -> ConfigUnion:
        """Builds an instance of this class from member configs as they are (no preset defaults applied)."""
        obj = object.__new__(cls)
        ConfigUnion.__init__(obj, *members)
        return obj

    @classmethod
    def _pick(cls, candidates: list[type[AdapterConfig]], config: Mapping[str, Any]) -> type[AdapterConfig]:
        return ConfigUnion

    @classmethod
    def _accepts(cls, members: list[AdapterConfig]) -> bool:
        """Whether a loaded union of these members should come back as this (preset) class."""
        return False

    @classmethod
    def _construct(cls, config: Mapping[str, Any]) -> ConfigUnion:
        members = config.get("configs")
        if config.get("architecture", "union") != "union" or not isinstance(members, (list, tuple)):
            raise ConfigTypeError(f"Expected {{'architecture': 'union', 'configs': [...]}}, got {config!r}")
        unknown = set(config) - {"architecture", "configs"}
        if unknown:
            raise ConfigFieldError(f"Unexpected key(s) {sorted(unknown)!r} in a ConfigUnion dict.")
        loaded = [AdapterConfig.from_dict(m) if isinstance(m, Mapping) else m for m in members]
        target = cls
        if cls is ConfigUnion:
            presets = _FAMILIES.get(("adapter", "union"), [])
            target = next((p for p in presets if issubclass(p, ConfigUnion) and p._accepts(loaded)), ConfigUnion)
        return target._from_members(loaded)


def _conflict(a: AdapterConfig, b: AdapterConfig) -> str | None:
    if a.architecture != b.architecture:
        return None
    if a.get("leave_out") or b.get("leave_out"):
        return None  # may be placed in different layers; decided when the layers are built
    if a.architecture is None:
        if a["mh_adapter"] != b["mh_adapter"] and a["output_adapter"] != b["output_adapter"]:
            return None
        return "two bottleneck adapters at the same location (they must differ in mh_adapter and output_adapter)"
    return f"two configs of architecture {a.architecture!r} cannot be combined"


@dataclass(eq=False, init=False)
class MAMConfig(ConfigUnion):
    """Mix-and-Match adapter: prefix tuning plus a parallel bottleneck adapter (He et al., 2022).

    Args:
        prefix_tuning: The prefix tuning part (default ``PrefixTuningConfig(bottleneck_size=800)``).
        adapter: The bottleneck part (default ``ParBnConfig()``).
    """

    def __init__(self, prefix_tuning: PrefixTuningConfig | None = None, adapter: BnConfig | None = None) -> None:
        prefix_tuning = prefix_tuning if prefix_tuning is not None else PrefixTuningConfig(bottleneck_size=800)
        adapter = adapter if adapter is not None else ParBnConfig()
        _expect(self, prefix_tuning=(prefix_tuning, PrefixTuningConfig), adapter=(adapter, BnConfig))
        super().__init__(prefix_tuning, adapter)

    @property
    def prefix_tuning(self) -> PrefixTuningConfig:
        """The prefix tuning member."""
        return self.configs[0]

    @property
    def adapter(self) -> BnConfig:
        """The bottleneck adapter member."""
        return self.configs[1]

    @classmethod
    def _accepts(cls, members: list[AdapterConfig]) -> bool:
        return [type(m) for m in members] == [PrefixTuningConfig, ParBnConfig]


@dataclass(eq=False, init=False)
class UniPELTConfig(ConfigUnion):
    """UniPELT: gated prefix tuning, bottleneck adapter and LoRA (Mao et al., 2022, "UniPELT").

    Every member gets ``use_gating=True``.

    Args:
        prefix_tuning: The prefix tuning part (default ``PrefixTuningConfig(prefix_length=10)``).
        adapter: The bottleneck part (default ``SeqBnConfig(reduction_factor=16)``).
        lora: The LoRA part (default ``LoRAConfig(r=8, alpha=2)``).
    """

    def __init__(
        self,
        prefix_tuning: PrefixTuningConfig | None = None,
        adapter: BnConfig | None = None,
        lora: LoRAConfig | None = None,
    ) -> None:
        prefix_tuning = prefix_tuning if prefix_tuning is not None else PrefixTuningConfig(prefix_length=10)
        adapter = adapter if adapter is not None else SeqBnConfig(reduction_factor=16)
        lora = lora if lora is not None else LoRAConfig(r=8, alpha=2)
        _expect(
            self,
            prefix_tuning=(prefix_tuning, PrefixTuningConfig),
            adapter=(adapter, BnConfig),
            lora=(lora, LoRAConfig),
        )
        super().__init__(*(c.replace(use_gating=True) for c in (prefix_tuning, adapter, lora)))

    @property
    def prefix_tuning(self) -> PrefixTuningConfig:
        """The prefix tuning member."""
        return self.configs[0]

    @property
    def adapter(self) -> BnConfig:
        """The bottleneck adapter member."""
        return self.configs[1]

    @property
    def lora(self) -> LoRAConfig:
        """The LoRA member."""
        return self.configs[2]

    @classmethod
    def _accepts(cls, members: list[AdapterConfig]) -> bool:
        kinds = [PrefixTuningConfig, SeqBnConfig, LoRAConfig]
        return [type(m) for m in members] == kinds and all(m["use_gating"] for m in members)


def _expect(owner: ConfigUnion, **arguments: tuple[Any, type]) -> None:
    problems = [
        f"{name}: expected a {kind.__name__}, got {value!r}"
        for name, (value, kind) in arguments.items()
        if not isinstance(value, kind)
    ]
    if problems:
        raise ConfigTypeError(owner._problem_message(problems))
