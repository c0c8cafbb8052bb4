"""The base class of every adapter configuration.

An adapter config is an immutable dataclass that is also a read-only :class:`~collections.abc.Mapping` over its fields
(``config["r"]``). It validates itself when constructed (every problem of one config is reported in a single
:class:`~adapters.errors.AdapterConfigError`), serializes to a plain dict with :meth:`AdapterConfig.to_dict` and is
rebuilt from one with :meth:`AdapterConfig.from_dict` / :meth:`AdapterConfig.load`.

Concrete classes register themselves by their ``architecture`` class attribute (``None`` for bottleneck adapters,
``"lora"``, ``"prefix_tuning"``, ...). When a dict is loaded, the registered class of that architecture whose
defaults differ from the dict in the fewest fields is chosen, so a saved ``IA3Config`` reloads as ``IA3Config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import json
import logging
import math
import os
import typing
from abc import ABCMeta
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import AdapterConfigError, ConfigFieldError
from ._types import describe_type, matches_type
from .migrations import migrate_saved_config

__all__ = ["AdapterConfig", "ConfigTypeError", "register_config_map", "register_string_parser"]

logger = logging.getLogger(__name__)

# (registry root, architecture) -> concrete config classes in definition order (general classes first).
_FAMILIES: dict[tuple[str, str | None], list[type[AdapterConfig]]] = {}

# Registrations by the modules built on this one (they import the classes defined here, so this module cannot
# import them): the identifier map of each registry root ("adapter": ADAPTER_CONFIG_MAP, "fusion": the fusion map)
# and the config-string parser (it builds ConfigUnions).
_CONFIG_MAPS: dict[str, Mapping[str, Any]] = {}
_STRING_PARSER: list[Callable[..., Any]] = []


def register_config_map(root: str, mapping: Mapping[str, Any]) -> None:
    """Make ``mapping`` the identifier map of registry root ``root`` (used by ``AdapterConfig.load("name")``)."""
    _CONFIG_MAPS[root] = mapping


def register_string_parser(parser: Callable[..., Any]) -> None:
    """Make ``parser(text, config_map, allow_union=...)`` the parser of config strings."""
    _STRING_PARSER[:] = [parser]


class ConfigTypeError(AdapterConfigError, TypeError):
    """Something that is not a config was given where one was expected, or a saved config lacks a required field."""


def plain(value: Any) -> Any:
    """Returns a JSON-like deep copy of a field value: tuples become lists, mappings become dicts."""
    if isinstance(value, AdapterConfig):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def close_names(unknown: str, names: Iterator[str] | tuple[str, ...]) -> list[str]:
    """The names in ``names`` that ``unknown`` is probably a misspelling of (best first)."""
    return difflib.get_close_matches(unknown, list(names), n=3, cutoff=0.6)


class _ConfigMeta(ABCMeta):
    """Makes ``SomeConfig(unknown_field=...)`` raise :class:`ConfigFieldError` (naming the valid fields and the
    closest ones) instead of the plain ``TypeError`` of a dataclass ``__init__``."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            accepted = cls.__dict__.get("_init_arguments")
            if accepted is None:  # the arguments of this class's __init__ (dataclass-made or its own)
                parameters = inspect.signature(cls.__init__).parameters.values()
                open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters)
                accepted = None if open_ended else frozenset(p.name for p in parameters)
                type.__setattr__(cls, "_init_arguments", accepted or frozenset())
            unknown = [k for k in kwargs if accepted and k not in accepted]
            if unknown:
                raise ConfigFieldError(cls._unknown_fields_message(unknown))
        return super().__call__(*args, **kwargs)


@dataclass(eq=False)
class AdapterConfig(Mapping, metaclass=_ConfigMeta):
    """Abstract base of all adapter method configurations (AdapterHub, Pfeiffer et al., 2020).

    Instances are immutable once built: assigning or deleting an attribute raises
    :class:`dataclasses.FrozenInstanceError`; use :meth:`replace` to derive a changed copy. Two configs are equal when
    their :meth:`to_dict` results are equal. The dataclasses are not declared ``frozen`` (immutability is enforced by
    ``__setattr__``), so users can extend them with their own ``@dataclass`` subclasses, as with the reference.

    Subclasses declare typed dataclass fields (the annotation says what a field accepts), may set ``_ranges`` to
    bound numeric fields (``_expected`` to word an expectation better than the annotation does), and may override
    :meth:`_check` for rules that involve several fields.
    """

    architecture: ClassVar[str | None] = None
    _abstract: ClassVar[bool] = True
    _registry_root: ClassVar[str] = "adapter"
    # field name -> (minimum or None, maximum or None), inclusive; merged along the class hierarchy
    _ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    # fields whose maximum in ``_ranges`` is excluded: a dropout probability of 1 would drop everything
    _open_above: ClassVar[frozenset[str]] = frozenset({"dropout", "dropout_prob"})
    # field name -> wording of the expected value in errors (default: derived from the annotation)
    _expected: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_abstract", False):
            return
        family = _FAMILIES.setdefault((cls._registry_root, cls.architecture), [])
        family[:] = [c for c in family if c.__qualname__ != cls.__qualname__ or c.__module__ != cls.__module__]
        family.append(cls)

    # ------------------------------------------------------------------ construction and validation

    def __post_init__(self) -> None:
        cls = type(self)
        if cls.__dict__.get("_abstract", False):
            raise TypeError(f"{cls.__name__} is abstract and cannot be instantiated; use one of its subclasses.")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            # Defensive copies: a caller mutating its list later must not change the config.
            if isinstance(value, (list, tuple)):
                object.__setattr__(self, f.name, list(value))
            elif isinstance(value, Mapping) and not isinstance(value, AdapterConfig):
                object.__setattr__(self, f.name, dict(value))
        problems, invalid = self._type_problems()
        problems += self._check(invalid)
        if problems:
            raise AdapterConfigError(self._problem_message(problems))
        self._seal()

    # ------------------------------------------------------------------ immutability

    def _seal(self) -> None:
        """Makes the instance read-only (called once it is fully built)."""
        object.__setattr__(self, "_sealed", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_sealed", False):
            raise dataclasses.FrozenInstanceError(
                f"cannot assign to {name!r}: {type(self).__name__} is immutable; use replace({name}=...)"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete {name!r}: {type(self).__name__} is immutable")

    def _type_problems(self) -> tuple[list[str], frozenset[str]]:
        hints = _type_hints(type(self))
        ranges: dict[str, tuple[float | None, float | None]] = {}
        expected: dict[str, str] = {}
        for klass in reversed(type(self).__mro__):
            ranges.update(klass.__dict__.get("_ranges", {}))
            expected.update(klass.__dict__.get("_expected", {}))
        open_above = frozenset().union(*(getattr(k, "_open_above", frozenset()) for k in type(self).__mro__))
        problems, invalid = [], set()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            annotation = hints.get(f.name, Any)
            if not matches_type(value, annotation):
                wanted = expected.get(f.name) or describe_type(annotation)
                problems.append(f"{f.name}: expected {wanted}, got {value!r}")
                invalid.add(f.name)
                continue
            low, high = ranges.get(f.name, (None, None))
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if numeric and not (math.isfinite(value) and abs(value) < 2**63):
                problems.append(f"{f.name}: expected a finite number that fits in 64 bits, got {value!r}")
                invalid.add(f.name)
                continue
            is_open = f.name in open_above
            above = high is not None and (value >= high if is_open else value > high) if numeric else False
            if numeric and ((low is not None and value < low) or above):
                close = ")" if is_open else "]"
                bounds = f">= {low}" if high is None else f"<= {high}" if low is None else f"in [{low}, {high}{close}"
                problems.append(f"{f.name}: expected a value {bounds}, got {value!r}")
                invalid.add(f.name)
        return problems, frozenset(invalid)

    def _check(self, invalid: frozenset[str]) -> list[str]:
        """Returns problems that involve more than one field or more than the type (hook for subclasses).

        Args:
            invalid: Fields whose value has the wrong type or is out of range; checks involving them are skipped.
        """
        return []

    def _problem_message(self, problems: list[str]) -> str:
        lines = "\n".join(f"  - {p}" for p in problems)
        return f"Invalid {type(self).__name__} ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n{lines}"

    # ------------------------------------------------------------------ mapping interface

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def _keys(self) -> list[str]:
        names = list(self._field_names())
        return names if self.architecture is None else ["architecture", *names]

    def __getitem__(self, key: str) -> Any:
        if key == "architecture" and self.architecture is not None:
            return self.architecture
        if key in self._field_names() or key in self.extra_keys:
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AdapterConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # configs hold lists; use get_adapter_config_hash()

    def members(self) -> tuple[AdapterConfig, ...]:
        """The single-method configs this config consists of: ``(self,)``, or a union's member configs."""
        return (self,)

    # ------------------------------------------------------------------ extra (unknown) attributes

    @property
    def extra_keys(self) -> tuple[str, ...]:
        """Names of unknown keys kept as attributes when this config was loaded (not serialized)."""
        return self.__dict__.get("_extra_keys", ())

    def _attach_extras(self, extras: Mapping[str, Any]) -> None:
        kept = []
        for key, value in extras.items():
            if not key.isidentifier() or key.startswith("_") or hasattr(type(self), key):
                logger.warning("Dropping config key %r of %s: it clashes with an attribute name.", key, self)
                continue
            object.__setattr__(self, key, value)
            kept.append(key)
        object.__setattr__(self, "_extra_keys", (*self.extra_keys, *kept))

    # ------------------------------------------------------------------ serialization

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as a JSON-serializable dict (``"architecture"`` first unless it is ``None``)."""
        out: dict[str, Any] = {} if self.architecture is None else {"architecture": self.architecture}
        for name in self._field_names():
            out[name] = plain(getattr(self, name))
        return out

    def replace(self, **changes: Any) -> AdapterConfig:
        """Returns a copy with some fields changed.

        Args:
            **changes: New field values.

        Returns:
            A new config of the same class (unknown attributes loaded with this config are kept).

        Raises:
            ConfigFieldError: A key is not a field of this config.
            AdapterConfigError: A new value is invalid.
        """
        if changes.get("architecture", self.architecture) == self.architecture:
            changes.pop("architecture", None)
        unknown = [k for k in changes if k not in self._field_names()]
        if unknown:
            raise ConfigFieldError(self._unknown_fields_message(unknown))
        new = dataclasses.replace(self, **changes)
        if self.extra_keys:
            new._attach_extras({k: getattr(self, k) for k in self.extra_keys})
        return new

    @classmethod
    def _unknown_fields_message(cls, unknown: list[str]) -> str:
        names = ", ".join(repr(k) for k in unknown)
        valid = ", ".join(cls._field_names())
        return f"{cls.__name__} has no field {names}.{cls._suggestions(unknown)} Valid fields: {valid}."

    @classmethod
    def _suggestions(cls, unknown: list[str]) -> str:
        """`` Did you mean 'x'?`` for the unknown names that are close to a field name (or ``""``)."""
        hints = [
            f"{close_names(k, cls._field_names())[0]!r} for {k!r}"
            for k in unknown
            if close_names(k, cls._field_names())
        ]
        return f" Did you mean {', '.join(hints)}?" if hints else ""

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> AdapterConfig:
        """Builds a config from a dict such as the output of :meth:`to_dict`.

        On a concrete class this builds that class. On an abstract base (``AdapterConfig``) the class is chosen from
        the dict's ``"architecture"``: among the registered classes of that architecture, the one whose defaults
        differ from the dict in the fewest fields (ties go to the more general class).

        Keys that are not fields (e.g. written by a newer version) are kept as attributes, are not serialized,
        and are reported in a warning.

        Args:
            config: The field values.

        Returns:
            The config.

        Raises:
            AdapterConfigError: Unknown architecture or invalid values.
            ConfigTypeError: ``config`` is not a mapping or lacks a required field.
        """
        if cls.__dict__.get("_abstract", False):
            return cls._from_any_dict(config)
        if not isinstance(config, Mapping):
            raise ConfigTypeError(f"Expected a mapping of config fields, got {type(config).__name__}: {config!r}")
        return cls._construct(config)

    @classmethod
    def _resolve_class(cls, config: Mapping[str, Any]) -> type[AdapterConfig]:
        architecture = config.get("architecture")
        known_form = architecture is None or isinstance(architecture, str)
        candidates = _FAMILIES.get((cls._registry_root, architecture)) if known_form else None
        if not candidates:
            known = sorted(str(a) for (root, a) in _FAMILIES if root == cls._registry_root)
            raise AdapterConfigError(f"Unknown adapter architecture {architecture!r}. Known: {', '.join(known)}.")
        return candidates[0]._pick(candidates, config)

    @classmethod
    def _pick(cls, candidates: list[type[AdapterConfig]], config: Mapping[str, Any]) -> type[AdapterConfig]:
        best, best_distance = candidates[0], None
        for candidate in candidates:
            distance = candidate._distance(config)
            if distance is not None and (best_distance is None or distance < best_distance):
                best, best_distance = candidate, distance
        return best

    @classmethod
    def _distance(cls, config: Mapping[str, Any]) -> tuple[int, int, int] | None:
        """How far ``config`` is from this class: ``(keys that are not fields, fields that differ from the
        defaults, fields the config does not mention)``, compared in that order (None: cannot build it). A class that
        knows every key always beats one that would keep some as extras, so a user's subclass with additional fields
        reloads as itself; of two that fit equally, the one without fields the config lacks wins."""
        config = cls._upgrade_keys(dict(config))
        config.pop("architecture", None)
        differing = unmentioned = 0
        names = set()
        for f in dataclasses.fields(cls):
            names.add(f.name)
            default = _default_of(f)
            if f.name not in config:
                if default is dataclasses.MISSING:
                    return None
                unmentioned += 1
            elif default is dataclasses.MISSING or plain(config[f.name]) != plain(default):
                differing += 1
        return sum(1 for key in config if key not in names), differing, unmentioned

    @classmethod
    def _upgrade_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Rewrites keys of older formats in place (hook for subclasses); returns the dict."""
        return config

    @classmethod
    def _construct(cls, config: Mapping[str, Any]) -> AdapterConfig:
        config = cls._upgrade_keys(dict(config))
        architecture = config.pop("architecture", cls.architecture)
        if architecture != cls.architecture:
            raise AdapterConfigError(
                f"Cannot build {cls.__name__} (architecture {cls.architecture!r}) from a dict with architecture "
                f"{architecture!r}; use AdapterConfig.load() to pick the class from the dict."
            )
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        kwargs = {k: v for k, v in config.items() if k in fields}
        extras = {k: v for k, v in config.items() if k not in fields}
        missing = [n for n, f in fields.items() if n not in kwargs and _default_of(f) is dataclasses.MISSING]
        if missing:
            raise ConfigTypeError(f"{cls.__name__} needs the field(s) {', '.join(missing)}, which the dict lacks.")
        obj = cls(**kwargs)
        if extras:
            logger.warning(
                "Unknown key(s) %s for %s (saved by a newer or customized version?). They are kept as attributes "
                "but ignored by the library and not saved.%s",
                ", ".join(repr(k) for k in extras),
                cls.__name__,
                cls._suggestions(list(extras)),
            )
            obj._attach_extras(extras)
        return obj

    # ------------------------------------------------------------------ loading

    @classmethod
    def _root(cls) -> type[AdapterConfig]:
        return AdapterConfig

    @classmethod
    def _config_map(cls) -> Mapping[str, AdapterConfig]:
        return _CONFIG_MAPS.get(cls._registry_root, {})

    @classmethod
    def load(
        cls,
        config: AdapterConfig | Mapping[str, Any] | str | os.PathLike | None,
        download_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AdapterConfig | None:
        """Loads a config from any of the accepted forms.

        ``config`` may be a config instance, a dict (the class is chosen from its ``"architecture"``, see
        :meth:`from_dict`), or a string, resolved in this order: an identifier of the config map (e.g.
        ``"seq_bn"``), the path of an existing JSON file (a top-level ``"config"`` key, as in ``adapter_config.json``,
        is unwrapped and migrated from the file's ``"version"``), or a config string (``"lora[r=4]|prefix_tuning"``).

        Args:
            config: The config to load. ``None`` or an empty dict/string gives ``None``.
            download_kwargs: Accepted for compatibility with the reference signature; configs are never downloaded.
            **kwargs: Field overrides; those whose value is ``None`` are ignored.

        Returns:
            The config, or ``None``.

        Raises:
            AdapterConfigError: Unknown identifier, malformed config string, unreadable file, invalid values.
            ConfigFieldError: An override or config-string key is not a field.
            ConfigTypeError: ``config`` has an unsupported type.
        """
        del download_kwargs  # configs are resolved locally only
        empty = not isinstance(config, AdapterConfig) and isinstance(config, (str, Mapping)) and not config
        if config is None or empty:
            return None
        root = cls._root()
        if isinstance(config, AdapterConfig):
            result = config
        elif isinstance(config, Mapping):
            result = root._from_any_dict(config)
        elif isinstance(config, (str, os.PathLike)):
            result = root._load_string(os.fspath(config))
        else:
            raise ConfigTypeError(
                f"Cannot load a config from {type(config).__name__}; expected a config, a dict, an identifier, "
                "a JSON file path or a config string."
            )
        overrides = {k: v for k, v in kwargs.items() if v is not None}
        return result.replace(**overrides) if overrides else result

    @classmethod
    def _load_string(cls, text: str) -> AdapterConfig:
        config_map = cls._config_map()
        if text in config_map:
            return config_map[text]
        if os.path.isfile(text):
            return cls._load_file(text)
        return _STRING_PARSER[0](text, config_map, allow_union=cls is AdapterConfig)

    @classmethod
    def _load_file(cls, path: str) -> AdapterConfig:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise AdapterConfigError(f"Cannot read config file {path!r}: {exc}") from exc
        if not isinstance(data, Mapping):
            raise AdapterConfigError(f"Config file {path!r} does not contain a JSON object.")
        if isinstance(data.get("config"), Mapping):
            data = migrate_saved_config(data["config"], data.get("version"))
        return cls._from_any_dict(data)

    @classmethod
    def _from_any_dict(cls, config: Mapping[str, Any]) -> AdapterConfig:
        """Like :meth:`from_dict` on an abstract base: the class is always chosen from the dict."""
        if not isinstance(config, Mapping):
            raise ConfigTypeError(f"Expected a mapping of config fields, got {type(config).__name__}: {config!r}")
        return cls._resolve_class(config)._construct(config)


def _type_hints(cls: type) -> dict[str, Any]:
    cached = cls.__dict__.get("_hints_cache")
    if cached is None:
        cached = typing.get_type_hints(cls)
        type.__setattr__(cls, "_hints_cache", cached)
    return cached
