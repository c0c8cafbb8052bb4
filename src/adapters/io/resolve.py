"""Where ``load_adapter`` finds an adapter: the resolution order of the reference, with one error listing every
place tried.

1. a local folder (it must hold a saved adapter: ``adapter_config.json`` and the weights, ours or PEFT's);
2. an ``http(s)`` URL of a zip or tar archive or of a folder (``/`` at the end), downloaded once into
   ``ADAPTER_CACHE`` (:mod:`adapters.io.download`);
3. a Hugging Face Hub repo id (``version`` is the revision, ``cache_dir`` and offline mode are honoured);
4. a legacy AdapterHub identifier (``sentiment/sst-2@ukp``) looked up in the AdapterHub index and redirected to the
   Hub repo ``AdapterHub/<name>`` (:mod:`adapters.io.hub_index`).

The deprecated ``config`` and ``model_name`` arguments of ``load_adapter`` only steer step 4. Given with an adapter
found in steps 1-3 they cannot apply, and :class:`~adapters.errors.AdapterConfigError` says so instead of
ignoring them silently.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import AdapterConfigError, AdapterFileNotFoundError, CheckpointError
from .download import is_remote_url, resolve_url
from .format import ADAPTER_CONFIG_NAME, ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME, read_json
from .hub import snapshot_folder
from .hub_index import index_repo_id, parse_identifier
from .peft_sites import PEFT_WEIGHTS_NAMES

__all__ = ["ResolvedAdapter", "resolve_adapter", "resolve_adapter_folder"]

logger = logging.getLogger(__name__)

_SOURCES = {"local": "in a local folder", "url": "at a URL", "hub": "on the Hugging Face Hub", "index": "in the index"}
_ARCHIVE_SUFFIX = re.compile(r"\.(zip|tar|tgz|tar\.gz|tar\.bz2|tar\.xz)$")


@dataclass(frozen=True)
class ResolvedAdapter:
    """A local folder holding the adapter, where it came from and in which format.

    Attributes:
        folder: the local folder.
        source: ``"local"``, ``"url"``, ``"hub"`` or ``"index"`` (an AdapterHub identifier).
        format: ``"adapters"`` (this library's and the reference's format) or ``"peft"`` (a PEFT checkpoint).
        name: the adapter's name: the saved ``name`` for our format; for PEFT checkpoints (which store none) the
            last part of what was asked for (folder, URL file or repo name), with ``.`` replaced by ``_``.
    """

    folder: Path
    source: str
    format: str
    name: str | None


def _default_peft_name(name_or_path: str) -> str:
    text = urlparse(name_or_path).path if is_remote_url(name_or_path) else str(name_or_path)
    last = _ARCHIVE_SUFFIX.sub("", text.rstrip("/\\").replace("\\", "/").split("/")[-1])
    return re.sub(r"[^A-Za-z0-9_\-]", "_", last) or "peft"


def _inspect(folder: Path, name_or_path: str) -> tuple[str, str | None]:
    """``(format, name)`` of a saved adapter folder; raises if it is not one."""
    if not (folder / ADAPTER_CONFIG_NAME).is_file():
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise AdapterFileNotFoundError(
            f"{folder} is not a saved adapter: {ADAPTER_CONFIG_NAME} is missing (found: {present or 'nothing'})."
        )
    data = read_json(folder / ADAPTER_CONFIG_NAME)
    if "peft_type" in data:
        weights, fmt, name = PEFT_WEIGHTS_NAMES, "peft", _default_peft_name(name_or_path)
    else:
        weights, fmt, name = (ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME), "adapters", data.get("name")
        if name is not None and not isinstance(name, str):
            raise CheckpointError(f"{folder / ADAPTER_CONFIG_NAME}: the name must be a string, got {name!r}.")
    if not any((folder / w).is_file() for w in weights):
        raise AdapterFileNotFoundError(f"No weights file in {folder}: expected {' or '.join(weights)}.")
    return fmt, name


def _resolved(folder: Path, source: str, name_or_path: str, check: bool) -> ResolvedAdapter:
    if not check:
        return ResolvedAdapter(folder, source, "unknown", None)
    fmt, name = _inspect(folder, name_or_path)
    return ResolvedAdapter(folder, source, fmt, name)


def _warn_deprecated(config: Any, model_name: str | None) -> None:
    given = [n for n, v in (("config", config), ("model_name", model_name)) if v is not None]
    if given:
        warnings.warn(
            f"load_adapter(..., {'=..., '.join(given)}=...) is deprecated: these arguments only select adapters of "
            "the legacy AdapterHub index (identifiers such as 'sentiment/sst-2@ukp').",
            FutureWarning,
            stacklevel=5,
        )


def resolve_adapter(
    name_or_path: str | Path,
    version: str | None = None,
    config: Any = None,
    model_name: str | None = None,
    default_model_name: str | None = None,
    cache_dir: str | Path | None = None,
    strict: bool = False,
    check: bool = True,
    **_ignored: Any,
) -> ResolvedAdapter:
    """Find the adapter ``name_or_path`` (see the module docstring) and return its local folder.

    Args:
        version: the Hub revision (branch, tag or commit) to download.
        config, model_name: deprecated; select the adapter config and base model in the AdapterHub index.
        default_model_name: the base model's name used for the index when ``model_name`` is not given.
        cache_dir: the cache for Hub downloads and URL downloads (default: the Hub's cache, ``ADAPTER_CACHE``).
        strict: in the index, match only entries with exactly ``config``.
        check: require a saved adapter folder (``False``: any folder, e.g. for ``load_adapter_setup``).

    Raises:
        AdapterFileNotFoundError: nothing found; the message lists every place tried and why it failed.
        AdapterConfigError: ``config``/``model_name`` were given but the adapter was not found through the index.
    """
    _warn_deprecated(config, model_name)
    found = _find(str(name_or_path), version, config, model_name or default_model_name, cache_dir, strict, check)
    if found.source != "index" and (config is not None or model_name is not None):
        raise AdapterConfigError(
            f"load_adapter({str(name_or_path)!r}) found the adapter {_SOURCES[found.source]}, whose saved config "
            "is used: config= and model_name= only select adapters of the legacy AdapterHub index; remove them."
        )
    return found


def resolve_adapter_folder(name_or_path: str | Path, version: str | None = None, **kwargs: Any) -> Path:
    """The local folder of ``name_or_path`` (any folder: a saved adapter, setup, head or fusion)."""
    return resolve_adapter(name_or_path, version=version, check=False, **kwargs).folder


def _find(
    name: str, version: str | None, config: Any, model_name: str | None, cache_dir: Any, strict: bool, check: bool
) -> ResolvedAdapter:
    path = Path(name)
    if path.is_dir():
        return _resolved(path, "local", name, check)
    if path.exists():
        raise AdapterFileNotFoundError(f"{path} is a file; load_adapter expects a folder written by save_adapter.")
    if is_remote_url(name):
        try:
            return _resolved(resolve_url(name, cache_dir=cache_dir), "url", name, check)
        except AdapterFileNotFoundError as error:
            raise AdapterFileNotFoundError(f"Cannot load adapter from {name}: {error}") from None
    tried = [f"local folder: not a local folder ({path.absolute()} does not exist)"]
    try:
        return _resolved(snapshot_folder(name, version=version, cache_dir=cache_dir), "hub", name, check)
    except AdapterFileNotFoundError as error:
        tried.append(f"Hugging Face Hub: {error}")
    if parse_identifier(name) is not None:
        try:
            repo = index_repo_id(name, model_name, adapter_config=config, strict=strict)
            logger.warning("Automatic redirect to the Hugging Face Hub repo %r for %r.", repo, name)
            return _resolved(snapshot_folder(repo, version=version, cache_dir=cache_dir), "index", repo, check)
        except AdapterFileNotFoundError as error:
            tried.append(f"AdapterHub index: {error}")
    else:
        tried.append("AdapterHub index: not an AdapterHub identifier (task/subtask@org)")
    places = "\n".join(f"  - {line}" for line in tried)
    raise AdapterFileNotFoundError(f"Cannot load adapter {name!r} from any source. Tried:\n{places}")
