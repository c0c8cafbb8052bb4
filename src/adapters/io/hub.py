"""Adapters on the Hugging Face Hub: downloading a repo, listing and describing adapters.

Downloads go through ``huggingface_hub.snapshot_download`` (``version`` is the revision; ``cache_dir`` and the
Hub's offline mode, ``HF_HUB_OFFLINE=1``, are honoured: offline, only the local Hub cache is used). ``list_adapters``
and ``get_adapter_info`` read the Hub's model listing and describe each adapter repo as an :class:`AdapterInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import AdapterConfigError, AdapterFileNotFoundError
from ..version import __version__

__all__ = [
    "AdapterInfo",
    "AdapterType",
    "hub_offline",
    "snapshot_folder",
    "list_adapters",
    "get_adapter_info",
    "adapter_info_from_model_info",
]

# the Hub's library name of adapter repos (what ``list_adapters`` filters on, as the reference)
HUB_LIBRARY_NAME = "adapters"


class AdapterType(str, Enum):
    """The adapter types of adapter-transformers v1 files (``"type"`` in old ``adapter_config.json`` files)."""

    text_task = "text_task"
    text_lang = "text_lang"

    @classmethod
    def has(cls, value: object) -> bool:
        return value in cls._value2member_map_


@dataclass
class AdapterInfo:
    """One adapter available on a hub.

    Attributes:
        source: where it lives (``"hf"``: the Hugging Face Hub).
        adapter_id: what to pass to ``load_adapter`` (the repo id).
        model_name: the base model it was trained for, if the hub knows it.
        task, subtask: the task it was trained on (AdapterHub index entries).
        username: the owner of the repo.
        adapter_config: the adapter's config, if known.
        sha1_checksum: the revision (commit hash) of the repo.
    """

    source: str
    adapter_id: str
    model_name: str | None = None
    task: str | None = None
    subtask: str | None = None
    username: str | None = None
    adapter_config: dict | None = None
    sha1_checksum: str | None = None


def hub_offline() -> bool:
    """Whether the Hugging Face Hub's offline mode is on (``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def snapshot_folder(repo_id: str, version: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """Download (or, offline, find in the cache) the Hub repo ``repo_id`` and return its local folder.

    Raises :class:`~adapters.errors.AdapterFileNotFoundError` saying why it is not available.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        folder = snapshot_download(
            repo_id,
            revision=version,
            cache_dir=cache_dir,
            library_name="adapters",
            library_version=__version__,
        )
    except HFValidationError:
        raise AdapterFileNotFoundError(f"{repo_id!r} is not a valid Hub repo id.") from None
    except RevisionNotFoundError:
        raise AdapterFileNotFoundError(f"the Hub repo {repo_id!r} has no revision {version!r}.") from None
    except RepositoryNotFoundError:
        raise AdapterFileNotFoundError(f"there is no Hub repo {repo_id!r} (or it is private).") from None
    except LocalEntryNotFoundError:
        where = "offline mode is on (HF_HUB_OFFLINE=1)" if hub_offline() else "the Hub could not be reached"
        raise AdapterFileNotFoundError(
            f"{where} and the repo {repo_id!r} (revision {version or 'main'!r}) is not in the local Hub cache "
            f"({cache_dir or 'default cache'})."
        ) from None
    except Exception as error:  # network errors of any client library
        raise AdapterFileNotFoundError(f"the Hub repo {repo_id!r} failed: {type(error).__name__}: {error}") from None
    return Path(folder)


def _model_name(config: dict | None) -> str | None:
    """The base model of an adapter repo from the Hub's parsed ``config`` (the keys the reference read)."""
    for key in ("adapter_transformers", "adapters"):
        entry = (config or {}).get(key)
        if isinstance(entry, dict) and entry.get("model_name"):
            return entry["model_name"]
    return None


def adapter_info_from_model_info(info: Any) -> AdapterInfo:
    """An :class:`AdapterInfo` from a ``huggingface_hub.ModelInfo`` of an adapter repo."""
    config = getattr(info, "config", None)
    author = getattr(info, "author", None) or (info.id.split("/")[0] if "/" in info.id else None)
    adapter_config = (config or {}).get("adapter_transformers", {}).get("config") if config else None
    task_tag = next((t.split(":", 1)[1] for t in getattr(info, "tags", None) or [] if t.startswith("adapterhub:")), "")
    task, _, subtask = task_tag.partition("/")
    return AdapterInfo(
        source="hf",
        adapter_id=info.id,
        model_name=_model_name(config),
        task=task or None,
        subtask=subtask or None,
        username=author,
        adapter_config=adapter_config if isinstance(adapter_config, dict) else None,
        sha1_checksum=getattr(info, "sha", None),
    )


def _check_source(source: str | None) -> None:
    if source not in (None, "hf"):
        raise AdapterConfigError(
            f"source={source!r} is not available; allowed: 'hf' (the Hugging Face Hub). The AdapterHub.ml listing "
            "('ah') is archived: its adapters are on the Hugging Face Hub under AdapterHub/."
        )


def list_adapters(source: str | None = None, model_name: str | None = None) -> list[AdapterInfo]:
    """Every adapter repo on the Hugging Face Hub (library ``adapters``), optionally only those trained for
    ``model_name``."""
    from huggingface_hub import HfApi

    _check_source(source)
    models = HfApi().list_models(filter=HUB_LIBRARY_NAME, full=True, fetch_config=True)
    found = [adapter_info_from_model_info(info) for info in models]
    if model_name is not None:
        found = [info for info in found if info.model_name == model_name]
    return found


def get_adapter_info(adapter_id: str, source: str = "hf") -> AdapterInfo | None:
    """The :class:`AdapterInfo` of the Hub repo ``adapter_id``, or ``None`` if there is no such repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    _check_source(source)
    try:
        info = HfApi().model_info(adapter_id)
    except RepositoryNotFoundError:
        return None
    return adapter_info_from_model_info(info)
