"""Legacy AdapterHub identifiers such as ``sentiment/sst-2@ukp``, resolved through the AdapterHub index.

AdapterHub.ml is archived; its adapters live on the Hugging Face Hub as ``AdapterHub/<name>``. An identifier is
looked up in the index file of the base model (``dist/v2/index/<model_name>.json`` of the AdapterHub repo), whose
format is::

    {task: {subtask: {"default": <entry path>,
                      <config hash>: {"default": <entry path>, "versions": {<org>: <entry path>}}}}}

and the file name of the entry path found (``adapters/ukp/bert-base-uncased_sentiment_sst-2_pfeiffer.json``) names
the Hub repo (``AdapterHub/bert-base-uncased_sentiment_sst-2_pfeiffer``), as in the reference. Identifiers:

* ``task/subtask@org`` (``@org`` optional; ``org`` picks among the versions of one config),
* ``name``: a task with a single subtask, or a subtask name,
* ``@org/name``: the adapter entry ``adapters/<org>/<name>.json`` directly (no index look-up).

``config`` (the deprecated ``load_adapter`` argument) picks the config hash; with ``strict=True`` an entry without
that config does not match. The index is downloaded once into ``ADAPTER_CACHE``; in the Hub's offline mode only
the cached copy is used.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configuration import AdapterConfig, get_adapter_config_hash
from ..errors import AdapterConfigError, AdapterFileNotFoundError
from .download import download_cached
from .hub import hub_offline

__all__ = [
    "ADAPTER_HUB_URL",
    "ADAPTER_HUB_INDEX_FILE",
    "ADAPTER_HUB_ADAPTER_ENTRY_JSON",
    "HUB_ORGANIZATION",
    "HubIdentifier",
    "parse_identifier",
    "find_in_index",
    "index_repo_id",
]

ADAPTER_HUB_URL = "https://raw.githubusercontent.com/Adapter-Hub/Hub/master/dist/v2/"
ADAPTER_HUB_INDEX_FILE = ADAPTER_HUB_URL + "index/{}.json"
ADAPTER_HUB_ADAPTER_ENTRY_JSON = ADAPTER_HUB_URL + "adapters/{}/{}.json"
HUB_ORGANIZATION = "AdapterHub"  # the Hugging Face Hub organisation holding AdapterHub's adapters

_NAME = r"[A-Za-z0-9_.\-]+"
_IDENTIFIER = re.compile(rf"^(?P<task>{_NAME})(?:/(?P<subtask>{_NAME}))?(?:@(?P<org>{_NAME}))?$")
_ENTRY = re.compile(rf"^@(?P<org>{_NAME})/(?P<name>{_NAME})$")


@dataclass(frozen=True)
class HubIdentifier:
    """A parsed legacy identifier: ``task[/subtask][@org]``, or ``@org/name`` (``entry`` set)."""

    task: str | None = None
    subtask: str | None = None
    org: str | None = None
    entry: str | None = None


def parse_identifier(identifier: str) -> HubIdentifier | None:
    """The parts of a legacy AdapterHub identifier, or ``None`` if ``identifier`` is not one."""
    match = _ENTRY.match(identifier)
    if match:
        return HubIdentifier(org=match["org"], entry=f"adapters/{match['org']}/{match['name']}.json")
    match = _IDENTIFIER.match(identifier)
    if match is None:
        return None
    return HubIdentifier(task=match["task"], subtask=match["subtask"], org=match["org"])


def _read_index(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise AdapterFileNotFoundError(f"the AdapterHub index {path} cannot be read: {error}") from None
    if not isinstance(data, dict):
        raise AdapterFileNotFoundError(f"the AdapterHub index {path} is not a JSON object.")
    return data


def _entries(index: dict[str, Any], parsed: HubIdentifier) -> list[tuple[str, str, dict]]:
    """The ``(task, subtask, entry)`` triples the identifier names."""
    found = []
    for task, subtasks in index.items():
        if not isinstance(subtasks, dict):
            continue
        for subtask, entry in subtasks.items():
            if parsed.subtask is not None:
                hit = task == parsed.task and subtask == parsed.subtask
            else:
                hit = parsed.task in (task, subtask)
            if hit and isinstance(entry, dict):
                found.append((task, subtask, entry))
    return found


def _pick_version(config_entry: dict, org: str | None) -> str | None:
    versions = config_entry.get("versions") or {}
    if org is not None:
        return versions.get(org)
    if config_entry.get("default"):
        return config_entry["default"]
    return next(iter(versions.values())) if len(versions) == 1 else None


def _match_entry(entry: dict, org: str | None, config_hash: str | None, strict: bool) -> str | None:
    configs = {k: v for k, v in entry.items() if k != "default" and isinstance(v, dict)}
    if config_hash is not None and config_hash in configs:
        return _pick_version(configs[config_hash], org)
    if config_hash is not None and strict:
        return None
    if org is not None:  # only a version of that organisation matches
        by_org = [v["versions"][org] for v in configs.values() if org in (v.get("versions") or {})]
        if len(by_org) == 1 or entry.get("default") in by_org:
            return by_org[0] if len(by_org) == 1 else entry["default"]
        if by_org:
            raise AdapterConfigError(f"{org!r} has versions for several configs here; pass config= to pick one.")
        return None
    if entry.get("default"):
        return entry["default"]
    return _pick_version(next(iter(configs.values())), org) if len(configs) == 1 else None


def find_in_index(
    identifier: str,
    model_name: str,
    adapter_config: Any = None,
    strict: bool = False,
    index_file: str | Path | None = None,
) -> str | None:
    """The index entry path of a legacy identifier for ``model_name``, or ``None`` if the index has none.

    ``index_file`` reads a local index instead of downloading the model's index. Several matching entries (a task
    with several subtasks, a name used as task and subtask) raise :class:`~adapters.errors.AdapterConfigError`.
    """
    parsed = parse_identifier(identifier)
    if parsed is None:
        raise AdapterConfigError(
            f"{identifier!r} is not an AdapterHub identifier; allowed forms: 'task/subtask@org', 'task/subtask', "
            "'name', '@org/name'."
        )
    if parsed.entry is not None:
        return parsed.entry
    if index_file is None:
        index_file = download_cached(ADAPTER_HUB_INDEX_FILE.format(model_name), offline=hub_offline())
    entries = _entries(_read_index(Path(index_file)), parsed)
    if len(entries) > 1:
        names = ", ".join(f"{task}/{subtask}" for task, subtask, _ in entries)
        raise AdapterConfigError(f"{identifier!r} matches several AdapterHub entries ({names}); name one of them.")
    if not entries:
        return None
    config_hash = get_adapter_config_hash(AdapterConfig.load(adapter_config)) if adapter_config is not None else None
    return _match_entry(entries[0][2], parsed.org, config_hash, strict)


def index_repo_id(identifier: str, model_name: str | None, adapter_config: Any = None, strict: bool = False) -> str:
    """The Hugging Face Hub repo (``AdapterHub/<name>``) of a legacy identifier; raises
    :class:`~adapters.errors.AdapterFileNotFoundError` saying why there is none."""
    parsed = parse_identifier(identifier)
    if parsed is None:
        raise AdapterFileNotFoundError(f"{identifier!r} is not an AdapterHub identifier (task/subtask@org).")
    if parsed.entry is None and not model_name:
        raise AdapterFileNotFoundError(
            "the AdapterHub index is per base model, and this model has no name (model.config.name_or_path is "
            "empty); pass model_name='bert-base-uncased' (for example) to look it up."
        )
    candidates = [model_name] if parsed.entry else list(dict.fromkeys([model_name, model_name.split("/")[-1]]))
    problems = []
    for name in candidates:
        try:
            path = find_in_index(identifier, name, adapter_config=adapter_config, strict=strict)
        except AdapterFileNotFoundError as error:
            problems.append(str(error))
            continue
        if path is not None:
            return f"{HUB_ORGANIZATION}/{Path(path).name.removesuffix('.json')}"
        suffix = " with that config (strict=True)" if strict else ""
        problems.append(f"the index of {name!r} has no adapter {identifier!r}{suffix}")
    raise AdapterFileNotFoundError("; ".join(problems))
