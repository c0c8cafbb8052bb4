"""Checking config field values against their type annotations.

Config classes annotate their fields with plain types (``bool``, ``int``, ``float``, ``str``), ``X | None``,
``Literal[...]``, ``list[X]`` and ``Mapping[K, V]``. :func:`matches_type` decides whether a value fits such an
annotation and :func:`describe_type` turns the annotation into words for error messages, so the annotation is the
single source of truth for what a field accepts.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

__all__ = ["matches_type", "describe_type"]

_UNION_ORIGINS = (Union, types.UnionType)


def matches_type(value: Any, annotation: Any) -> bool:
    """Tells whether ``value`` is acceptable for a field annotated with ``annotation``.

    ``bool`` is not accepted where an ``int`` or ``float`` is expected (``True`` is no reduction factor), ``int`` is
    accepted where a ``float`` is expected, and tuples are accepted where a list is expected.

    Args:
        value: The value to check.
        annotation: An evaluated type annotation.

    Returns:
        Whether the value fits.
    """
    if annotation is Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if origin in _UNION_ORIGINS:
        return any(matches_type(value, arg) for arg in args)
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        return not args or all(matches_type(item, args[0]) for item in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        key_type, value_type = args or (Any, Any)
        return all(matches_type(k, key_type) and matches_type(v, value_type) for k, v in value.items())
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def describe_type(annotation: Any) -> str:
    """Describes an annotation in words, e.g. ``"a number or one of 'learned', 'channel'"``.

    Args:
        annotation: An evaluated type annotation.

    Returns:
        A short English description.
    """
    if annotation is None or annotation is type(None):
        return "None"
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in _UNION_ORIGINS:
        return " or ".join(describe_type(arg) for arg in args)
    if origin in (list, tuple, Sequence):
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in (dict, Mapping):
        key_type, value_type = args or (Any, Any)
        return f"a mapping of {_plural(key_type)} to {_plural(value_type)}"
    return _SIMPLE_NAMES.get(annotation, f"a {getattr(annotation, '__name__', annotation)}")


_SIMPLE_NAMES = {bool: "a bool", int: "an int", float: "a number", str: "a string", Any: "anything"}
_PLURALS = {bool: "bools", int: "ints", float: "numbers", str: "strings"}


def _plural(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "values from " + ", ".join(repr(arg) for arg in get_args(annotation))
    return _PLURALS.get(annotation, describe_type(annotation))
