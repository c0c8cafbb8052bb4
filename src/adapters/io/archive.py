"""Safe extraction of downloaded adapter archives (zip and tar, optionally compressed).

An archive from the internet is untrusted. Before anything is written, every member is checked, and the whole
archive is refused (:class:`~adapters.errors.UnsafeArchiveError`) if one member

* has an absolute name (``/etc/x``, ``C:\\x``, ``\\\\server\\x``) or a ``..`` component (path traversal),
* is a symbolic or hard link, a device or a FIFO (an adapter folder only holds regular files and folders),
* is larger than the size limit, or the members together are (a "zip bomb"), or there are too many members.

Extraction then writes into a fresh temporary folder next to the target and renames it into place only when every
member was written, so an interrupted extraction never looks complete and nothing is written outside the target.
Tar archives are additionally extracted with the standard library's ``"data"`` filter.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import UnsafeArchiveError

__all__ = ["MAX_EXTRACTED_BYTES", "MAX_MEMBERS", "is_archive", "extract_archive", "staged_folder"]

MAX_EXTRACTED_BYTES = 2 * 1024**3  # adapters are megabytes; a larger archive is refused
MAX_MEMBERS = 10_000
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    open: Callable[[], IO[bytes]] | None  # reads the content of a regular file


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a zip or tar archive (checked from the content, not the file name)."""
    return zipfile.is_zipfile(path) or _is_tar(path)


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError):
        return False


def _check_name(archive: Path, name: str) -> str:
    """The member's relative path with ``/`` separators; unsafe names raise."""
    normal = name.replace("\\", "/")
    if not normal or normal.startswith("/") or _DRIVE.match(normal):
        raise UnsafeArchiveError(f"Refusing {archive.name}: member {name!r} has an absolute path.")
    parts = [p for p in normal.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"Refusing {archive.name}: member {name!r} points outside the archive ('..').")
    return "/".join(parts)


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the archiver recorded no Unix file type
        if kind == stat.S_IFLNK:
            raise UnsafeArchiveError(f"Refusing {archive.name}: member {info.filename!r} is a symbolic link.")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise UnsafeArchiveError(f"Refusing {archive.name}: member {info.filename!r} is not a regular file.")
        yield _Member(info.filename, info.is_dir(), info.file_size, None if info.is_dir() else _opener(zf, info))


def _opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: zf.open(info)


def _tar_members(archive: Path, tf: tarfile.TarFile) -> Iterator[_Member]:
    for info in tf.getmembers():
        if info.issym() or info.islnk():
            raise UnsafeArchiveError(
                f"Refusing {archive.name}: member {info.name!r} is a link (to {info.linkname!r}); adapter archives "
                "hold regular files only."
            )
        if not (info.isfile() or info.isdir()):
            raise UnsafeArchiveError(f"Refusing {archive.name}: member {info.name!r} is a device or FIFO.")
        yield _Member(info.name, info.isdir(), info.size, None)


def _check_members(archive: Path, members: list[_Member], max_bytes: int) -> None:
    if len(members) > MAX_MEMBERS:
        raise UnsafeArchiveError(f"Refusing {archive.name}: {len(members)} members (at most {MAX_MEMBERS}).")
    total = 0
    for member in members:
        _check_name(archive, member.name)
        if member.size > max_bytes:
            raise UnsafeArchiveError(
                f"Refusing {archive.name}: member {member.name!r} is {member.size} bytes, over the limit of "
                f"{max_bytes} bytes."
            )
        total += member.size
    if total > max_bytes:
        raise UnsafeArchiveError(
            f"Refusing {archive.name}: it unpacks to {total} bytes, over the limit of {max_bytes} bytes."
        )


def _write_member(archive: Path, root: Path, member: _Member, budget: list[int]) -> None:
    relative = _check_name(archive, member.name)
    if not relative:
        return
    dest = root.joinpath(*relative.split("/"))
    if os.path.commonpath([root.resolve(), dest.resolve()]) != str(root.resolve()):
        raise UnsafeArchiveError(f"Refusing {archive.name}: member {member.name!r} resolves outside the target.")
    if member.is_dir:
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    with member.open() as source, open(dest, "xb") as target:
        while chunk := source.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:  # the declared sizes lied
                raise UnsafeArchiveError(f"Refusing {archive.name}: content exceeds the size limit.")
            target.write(chunk)


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A fresh folder next to ``target``, renamed to ``target`` when the block succeeds and removed otherwise, so
    ``target`` appears complete or not at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not target.is_dir():  # a concurrent extraction of the same archive may have won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_archive(archive: Path, target: Path, max_bytes: int = MAX_EXTRACTED_BYTES) -> Path:
    """Check ``archive`` completely, then extract it into the new folder ``target`` (see the module docstring).

    Returns ``target``. Raises :class:`~adapters.errors.UnsafeArchiveError` for an unsafe archive and for a file
    that is not a zip or tar archive; nothing is written then.
    """
    archive, target = Path(archive), Path(target)
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, target, max_bytes)
        elif _is_tar(archive):
            with tarfile.open(archive, mode="r:*") as tf:
                members = list(_tar_members(archive, tf))
                _check_members(archive, members, max_bytes)
                with staged_folder(target) as tmp:
                    _extract_tar(archive, tf, tmp, max_bytes)
        else:
            raise UnsafeArchiveError(f"{archive.name} is neither a zip nor a tar archive.")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise UnsafeArchiveError(f"Refusing {archive.name}: it is corrupt ({error}).") from None
    return target


def _extract_zip(archive: Path, target: Path, max_bytes: int) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = list(_zip_members(archive, zf))
        _check_members(archive, members, max_bytes)
        with staged_folder(target) as tmp:
            budget = [max_bytes]
            for member in members:
                _write_member(archive, tmp, member, budget)


def _extract_tar(archive: Path, tf: tarfile.TarFile, root: Path, max_bytes: int) -> None:
    if hasattr(tarfile, "data_filter"):
        try:
            tf.extractall(root, filter="data")
        except tarfile.FilterError as error:
            raise UnsafeArchiveError(f"Refusing {archive.name}: {error}") from None
        return
    budget = [max_bytes]
    for info in tf.getmembers():
        opener = None if info.isdir() else _tar_opener(tf, info)
        _write_member(archive, root, _Member(info.name, info.isdir(), info.size, opener), budget)


def _tar_opener(tf: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    return lambda: tf.extractfile(info)
