"""The config-string grammar: ``"seq_bn[reduction_factor=2, leave_out=[11]]|lora"``.

A config string is one or more chunks joined by ``|``. A chunk is an identifier of the config map, optionally
followed by ``[key=value, ...]`` where every value is a Python literal (number, string, bool, None, list, dict).
Each chunk is the identified preset with the given fields replaced; several chunks form a :class:`ConfigUnion`.

Parsing never evaluates code: the bracket content is parsed as the keyword arguments of a call expression with
:func:`ast.parse` (so keys are identifiers), and each value is read with :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

from ..errors import AdapterConfigError, ConfigFieldError
from .base import AdapterConfig, close_names, register_string_parser
from .union import ConfigUnion

__all__ = ["parse_config_string", "split_config_string"]

_CHUNK = re.compile(r"^(?P<name>[^\[\]|\n]+?)\s*(?:\[(?P<kvs>.*)\])?$", re.DOTALL)


def split_config_string(config_string: str) -> list[str]:
    """Splits a config string at the ``|`` that are outside brackets and quotes.

    Args:
        config_string: E.g. ``"lora[r=4]|prefix_tuning[prefix_length=5]"``.

    Returns:
        The stripped chunks, e.g. ``["lora[r=4]", "prefix_tuning[prefix_length=5]"]``.
    """
    chunks, current, depth, quote, escaped = [], [], 0, None, False
    for char in config_string:
        if quote:
            escaped = char == "\\" and not escaped
            if char == quote and not escaped:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "|" and depth == 0:
            chunks.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    chunks.append("".join(current).strip())
    return chunks


def _parse_kwargs(kvs: str, chunk: str) -> dict[str, Any]:
    if not kvs.strip():
        return {}
    try:
        tree = ast.parse(f"_({kvs})", mode="eval")
    except SyntaxError as exc:
        raise AdapterConfigError(
            f"Malformed parameters in config string chunk {chunk!r}: expected 'key=value, ...' with Python "
            f"literal values ({exc.msg})."
        ) from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id != "_" or call.args:
        raise AdapterConfigError(f"Malformed parameters in config string chunk {chunk!r}: expected 'key=value, ...'.")
    kwargs = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise AdapterConfigError(f"Config string chunk {chunk!r}: '**' is not allowed; write 'key=value'.")
        if keyword.arg in kwargs:
            raise AdapterConfigError(f"Malformed parameters in config string chunk {chunk!r}: {keyword.arg!r} twice.")
        try:
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise AdapterConfigError(
                f"Config string chunk {chunk!r}: the value of {keyword.arg!r} ({ast.unparse(keyword.value)}) is not "
                "a Python literal (numbers, strings, True/False/None, lists, dicts)."
            ) from None
    return kwargs


def parse_config_string(
    config_string: str, config_map: Mapping[str, AdapterConfig] | None = None, allow_union: bool = True
) -> AdapterConfig:
    """Parses a config string into a config.

    Args:
        config_string: E.g. ``"seq_bn[reduction_factor=2, leave_out=[11]]|lora"``.
        config_map: Identifier → preset config (default: ``ADAPTER_CONFIG_MAP``).
        allow_union: Whether several ``|``-joined chunks (a :class:`ConfigUnion`) are allowed.

    Returns:
        The config of the single chunk, or a :class:`ConfigUnion` of all chunks.

    Raises:
        ConfigFieldError: A key is not a field of the identified config.
        AdapterConfigError: Unknown identifier, malformed chunk or non-literal value.
    """
    if config_map is None:
        config_map = AdapterConfig._config_map()
    known = ", ".join(config_map)
    chunks = split_config_string(config_string)
    if len(chunks) > 1 and not allow_union:
        raise AdapterConfigError(f"Config string {config_string!r} has several '|'-joined parts; only one is allowed.")
    configs = []
    for chunk in chunks:
        match = _CHUNK.match(chunk)
        if match is None:
            raise AdapterConfigError(
                f"Malformed config string chunk {chunk!r} in {config_string!r}: expected 'name' or "
                f"'name[key=value, ...]' with name one of: {known}."
            )
        name = match["name"].strip()
        if name not in config_map:
            close = close_names(name, tuple(config_map))
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise AdapterConfigError(
                f"Unknown config name {name!r} in config string {config_string!r} (and it is not an existing file)."
                f"{hint} Known identifiers: {known}."
            )
        kwargs = _parse_kwargs(match["kvs"] or "", chunk)
        try:
            configs.append(config_map[name].replace(**kwargs) if kwargs else config_map[name])
        except ConfigFieldError as exc:
            raise ConfigFieldError(f"In config string chunk {chunk!r}: {exc}") from None
    if len(configs) == 1:
        return configs[0]
    return ConfigUnion(*configs)


register_string_parser(parse_config_string)
