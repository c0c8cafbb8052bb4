"""Adapters from http(s) URLs: downloaded once into a local cache (``ADAPTER_CACHE``), archives extracted safely.

A URL may point to

* a zip or tar archive (optionally gzip/bz2/xz compressed) of a saved adapter folder; the archive type is read from
  the content, not the file name. The adapter folder is the archive's root or its single top-level folder.
* a folder served over HTTP, written with a trailing ``/``: the known file names of a saved adapter
  (``adapter_config.json``, the weights, a head saved with it, or a PEFT checkpoint) are fetched from it.

Caching follows the reference: a ``HEAD`` request reads the server's ``ETag``; the download is stored as
``sha256(url)[.sha256(etag)]`` in the cache folder and reused while the ETag stays the same. When the server cannot
be reached, the newest cached copy of that URL is used. Downloads are written to a hidden temporary file and renamed
when complete (the length is checked against ``Content-Length``), so an interrupted download never looks complete;
archives are extracted by :mod:`adapters.io.archive` the same way. Only ``http`` and ``https`` URLs are fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from ..errors import AdapterFileNotFoundError
from ..version import __version__
from .archive import MAX_EXTRACTED_BYTES, extract_archive, is_archive, staged_folder
from .format import ADAPTER_CONFIG_NAME

__all__ = ["ADAPTER_CACHE", "FOLDER_FILES", "is_remote_url", "download_cached", "resolve_url", "find_adapter_root"]

logger = logging.getLogger(__name__)


def _default_cache() -> str:
    torch_home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return os.path.join(os.path.expanduser(torch_home), "adapters")


ADAPTER_CACHE = _default_cache()  # $TORCH_HOME/adapters, as the reference

# files fetched from a folder URL (those missing on the server are skipped)
FOLDER_FILES = (
    ADAPTER_CONFIG_NAME,
    "adapter.safetensors",
    "pytorch_adapter.bin",
    "head_config.json",
    "model_head.safetensors",
    "pytorch_model_head.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
)
_MARKERS = (ADAPTER_CONFIG_NAME, "adapter_setup.json")  # what a saved adapter / adapter setup folder holds
_TIMEOUT = 30.0
_CHUNK = 1024 * 1024


def is_remote_url(value: object) -> bool:
    """Whether ``value`` is an ``http://`` or ``https://`` URL."""
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _request(url: str, method: str = "GET") -> urllib.request.Request:
    return urllib.request.Request(url, method=method, headers={"User-Agent": f"adapters/{__version__}"})


def _head_etag(url: str) -> str | None:
    """The server's ETag for ``url`` (``None`` if it sends none or does not answer HEAD). 404 raises."""
    try:
        with urllib.request.urlopen(_request(url, "HEAD"), timeout=_TIMEOUT) as response:
            return response.headers.get("ETag")
    except urllib.error.HTTPError as error:
        if error.code in (404, 410):
            raise
        return None


def _newest_cached(cache: Path, stem: str, suffix: str = "") -> Path | None:
    candidates = [
        p
        for p in cache.glob(f"{stem}*{suffix}")
        if not p.name.endswith((".json", "-extracted")) and (p.is_dir() if suffix else p.is_file())
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _fetch(url: str, path: Path, max_bytes: int) -> None:
    """GET ``url`` into ``path`` through a temporary file that is renamed only when the download is complete."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".incomplete")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(_request(url), timeout=_TIMEOUT) as response:
            expected = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(_CHUNK):
                received += len(chunk)
                if received > max_bytes:
                    raise AdapterFileNotFoundError(f"Download of {url} exceeds the size limit of {max_bytes} bytes.")
                out.write(chunk)
        if expected is not None and received != int(expected):
            raise AdapterFileNotFoundError(f"Download of {url} is incomplete: {received} of {expected} bytes.")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_cached(
    url: str,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
    max_bytes: int = MAX_EXTRACTED_BYTES,
    offline: bool = False,
) -> Path:
    """Download ``url`` into the cache (once per ETag) and return the cached file; ``offline`` uses only the cache."""
    cache = Path(cache_dir or ADAPTER_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    stem = _sha(url)
    if offline:
        cached = _newest_cached(cache, stem)
        if cached is None:
            raise AdapterFileNotFoundError(
                f"offline mode is on (HF_HUB_OFFLINE=1) and {url} is not in the cache ({cache})."
            )
        return cached
    try:
        etag = _head_etag(url)
    except urllib.error.HTTPError as error:
        raise AdapterFileNotFoundError(f"{url}: the server answered HTTP {error.code} ({error.reason}).") from None
    except (urllib.error.URLError, OSError) as error:
        cached = _newest_cached(cache, stem)
        if cached is None:
            raise AdapterFileNotFoundError(f"{url} could not be reached ({error}) and is not in the cache.") from None
        logger.warning("%s could not be reached (%s); using the cached copy %s.", url, error, cached)
        return cached
    path = cache / (stem + (f".{_sha(etag)}" if etag else ""))
    if path.is_file() and not force_download:
        return path
    try:
        _fetch(url, path, max_bytes)
    except urllib.error.HTTPError as error:
        raise AdapterFileNotFoundError(f"{url}: the server answered HTTP {error.code} ({error.reason}).") from None
    except urllib.error.URLError as error:
        raise AdapterFileNotFoundError(f"{url} could not be downloaded ({error.reason}).") from None
    meta = {"url": url, "etag": etag}
    (cache / f"{path.name}.json").write_text(json.dumps(meta), encoding="utf-8")
    return path


def _is_saved_folder(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in _MARKERS)


def find_adapter_root(folder: Path) -> Path:
    """The saved folder in an extracted archive: ``folder`` itself if it holds ``adapter_config.json`` (or
    ``adapter_setup.json``), else its single sub-folder that does."""
    if _is_saved_folder(folder):
        return folder
    found = [p for p in sorted(folder.iterdir()) if p.is_dir() and _is_saved_folder(p)]
    if len(found) == 1:
        return found[0]
    content = sorted(p.name for p in folder.iterdir())
    raise AdapterFileNotFoundError(
        f"The downloaded archive holds no single adapter folder with {ADAPTER_CONFIG_NAME} at its root or one level "
        f"below (top level: {content or 'empty'}; adapter folders: {[p.name for p in found]})."
    )


def resolve_url(url: str, cache_dir: str | Path | None = None, max_bytes: int = MAX_EXTRACTED_BYTES) -> Path:
    """The local adapter folder for ``url`` (an archive, or a folder URL ending with ``/``), downloading once."""
    if urlparse(url).path.endswith("/"):
        return _download_folder(url, Path(cache_dir or ADAPTER_CACHE), max_bytes)
    archive = download_cached(url, cache_dir=cache_dir, max_bytes=max_bytes)
    target = archive.parent / f"{archive.name}-extracted"
    if not target.is_dir():
        if not is_archive(archive):
            raise AdapterFileNotFoundError(
                f"{url} is not a zip or tar archive; to load a folder served over HTTP, end the URL with '/'."
            )
        extract_archive(archive, target, max_bytes=max_bytes)
    return find_adapter_root(target)


def _download_folder(url: str, cache: Path, max_bytes: int) -> Path:
    """Fetch the known adapter files below the folder URL ``url`` into one cached folder."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = _sha(url)
    try:
        etag = _head_etag(url + ADAPTER_CONFIG_NAME)
    except urllib.error.HTTPError as error:
        raise AdapterFileNotFoundError(
            f"{url}{ADAPTER_CONFIG_NAME}: the server answered HTTP {error.code}; a folder URL must serve a saved "
            "adapter's files."
        ) from None
    except (urllib.error.URLError, OSError) as error:
        cached = _newest_cached(cache, stem, "-folder")
        if cached is None:
            raise AdapterFileNotFoundError(f"{url} could not be reached ({error}) and is not in the cache.") from None
        logger.warning("%s could not be reached (%s); using the cached copy %s.", url, error, cached)
        return cached
    target = cache / (stem + (f".{_sha(etag)}" if etag else "") + "-folder")
    if target.is_dir():
        return target
    with staged_folder(target) as tmp:
        for name in FOLDER_FILES:
            try:
                _fetch(url + name, tmp / name, max_bytes)
            except urllib.error.HTTPError as error:
                if error.code not in (404, 410):
                    raise AdapterFileNotFoundError(f"{url}{name}: the server answered HTTP {error.code}.") from None
            except urllib.error.URLError as error:
                raise AdapterFileNotFoundError(f"{url}{name} could not be downloaded ({error.reason}).") from None
    return target
