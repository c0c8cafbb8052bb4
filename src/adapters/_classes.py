"""Mixing our API into the class of an existing object (a transformers model or config), the one way it is done."""

from __future__ import annotations

__all__ = ["mixed_into"]

_CACHE: dict[tuple[type, ...], type] = {}


def mixed_into(cls: type, *mixins: type) -> type:
    """A subclass of ``cls`` with ``mixins`` first in its bases (cached per combination).

    It keeps ``cls``'s name, module, qualname and docstring, so transformers' per-class registries (output recording,
    ``auto`` mappings, config class checks) keep matching the object after ``obj.__class__ = mixed_into(...)``.
    """
    key = (cls, *mixins)
    if key not in _CACHE:
        _CACHE[key] = type(
            cls.__name__,
            (*mixins, cls),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__},
        )
    return _CACHE[key]
