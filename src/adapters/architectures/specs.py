"""The table of supported model families, as data.

Adding a family is one entry in :mod:`adapters.architectures.specs_reference` (families of the reference library) or
:mod:`adapters.architectures.specs_more` (the others), plus its tiny config in ``tests/tiny_models.py``, or a call to
:func:`register_spec` from user code; a family without an entry may still be recognised by the generic fallback
(:mod:`adapters.architectures.derive`).
"""

from __future__ import annotations

from .spec import ArchitectureSpec
from .specs_more import MORE_SPECS
from .specs_reference import REFERENCE_SPECS

__all__ = ["SPECS", "REFERENCE_SPECS", "spec_for_model_type", "supported_model_types", "register_spec"]

SPECS: tuple[ArchitectureSpec, ...] = REFERENCE_SPECS + MORE_SPECS
_BY_MODEL_TYPE: dict[str, ArchitectureSpec] = {model_type: spec for spec in SPECS for model_type in spec.model_types}


def register_spec(spec: ArchitectureSpec, overwrite: bool = False) -> None:
    """Register ``spec`` for its model types (a family defined outside this package).

    Raises:
        ValueError: a model type already has a spec and ``overwrite`` is false.
    """
    taken = [t for t in spec.model_types if t in _BY_MODEL_TYPE and not overwrite]
    if taken:
        raise ValueError(f"Model types {taken} already have a spec; pass overwrite=True to replace it.")
    _BY_MODEL_TYPE.update(dict.fromkeys(spec.model_types, spec))


def supported_model_types() -> tuple[str, ...]:
    """All ``config.model_type`` values with a spec, sorted."""
    return tuple(sorted(_BY_MODEL_TYPE))


def spec_for_model_type(model_type: str) -> ArchitectureSpec | None:
    """The spec registered for ``model_type``, or ``None``."""
    return _BY_MODEL_TYPE.get(model_type)
