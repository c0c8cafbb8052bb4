"""Atomic folder saves: a save either replaces the whole folder or leaves it exactly as it was.

:func:`atomic_folder` gives a save a private staging folder next to the target (``.<name>.adapters-tmp-<pid>-*``),
pre-filled with the target's current content so files the save does not write are kept. When the save finishes,
the staging folder takes the target's place in one step: on Linux both folders are swapped with
``renameat2(RENAME_EXCHANGE)``, so at every instant the target holds either the complete old or the complete new
version, even if the process is killed (``SIGKILL``) halfway; elsewhere the old folder is moved aside first, which
leaves a short window without the target. If the save raises, the staging folder is removed and the target is not
touched. Staging folders of killed processes are removed by the next save into the same parent folder.

Saves nest: a save into a folder (or a sub-folder of a folder) that an enclosing save is staging writes into that
staging folder, so ``save_adapter(..., with_head=True)``, ``save_all_adapters`` and trainer checkpoints are each one
unit. ``AdapterTrainer`` writes every file of a ``checkpoint-N`` folder (adapters, optimizer, scheduler, scaler,
random states of all processes, trainer state) into one staging folder that only then becomes ``checkpoint-N``
(:mod:`adapters.training.atomic_checkpoint`), so ``get_last_checkpoint`` never finds a partial checkpoint.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import glob
import inspect
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["atomic_folder", "atomic_save", "STAGING_MARKER"]

STAGING_MARKER = ".adapters-tmp-"

# (target folder, staging folder) of the saves in progress in this context, outermost first
_ACTIVE: ContextVar[tuple[tuple[Path, Path], ...]] = ContextVar("adapters_atomic_saves", default=())


def _nested_path(path: Path) -> Path | None:
    """Where ``path`` is written inside an enclosing save (``None``: no enclosing save covers it)."""
    for target, staging in reversed(_ACTIVE.get()):
        if path == staging or staging in path.parents:
            return path
        if path == target or target in path.parents:
            return staging / path.relative_to(target)
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans(parent: Path) -> None:
    """Remove the staging folders in ``parent`` (of any target) left behind by processes that no longer run (killed
    mid-save)."""
    for entry in parent.glob(f".*{glob.escape(STAGING_MARKER)}*"):
        pid = entry.name.rsplit(STAGING_MARKER, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_EXCHANGE = _renameat2()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux); ``False`` if the system cannot."""
    if _EXCHANGE is None:
        return False
    if _EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported by this kernel or file system
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous version
        return
    old = _new_folder(target, "old-")
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _new_folder(target: Path, kind: str = "") -> Path:
    """A new, uniquely named staging folder next to ``target``, created with the usual permissions (umask)."""
    while True:
        path = target.parent / f".{target.name}{STAGING_MARKER}{os.getpid()}-{kind}{secrets.token_hex(4)}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


@contextmanager
def atomic_folder(
    folder: str | os.PathLike, link_existing: bool = True, before_move: Callable[[], None] | None = None
) -> Iterator[Path]:
    """Stage a save of ``folder``; yields the folder to write into (see the module docstring).

    Args:
        folder: The folder the save produces (created with its parents if missing).
        link_existing: Pre-fill the staging folder with hard links to the current files (cheap). Pass ``False``
            when the writer may overwrite files in place (e.g. transformers' ``save_pretrained``): the current files
            are then copied, so the old version cannot change through a shared link.

    Raises:
        NotADirectoryError: ``folder`` exists and is not a folder (nothing is written).
    """
    target = Path(os.path.realpath(folder))  # a symlinked folder is saved where it points
    nested = _nested_path(target)
    if nested is not None:
        nested.mkdir(parents=True, exist_ok=True)
        yield nested
        return
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"Cannot save to {target}: it exists and is not a folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target.parent)
    staging = _new_folder(target)
    token = None
    try:
        if target.is_dir():
            copy = _link_or_copy if link_existing else shutil.copy2
            shutil.copytree(target, staging, symlinks=True, copy_function=copy, dirs_exist_ok=True)
        token = _ACTIVE.set((*_ACTIVE.get(), (target, staging)))
        yield staging
        _ACTIVE.reset(token)
        token = None
        if before_move is not None:
            before_move()
        _move_into_place(staging, target)
    except BaseException:
        if token is not None:
            _ACTIVE.reset(token)
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_save(argument: str = "save_directory", link_existing: bool = True) -> Callable:
    """Decorate a save method so that it writes folder ``argument`` through :func:`atomic_folder`: the method runs
    with the staging folder in place of ``argument``."""

    def decorate(method: Callable) -> Callable:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            folder = bound.arguments.get(argument)
            if folder is None:  # e.g. Trainer.save_model(None): the method picks its default folder itself
                return method(*args, **kwargs)
            with atomic_folder(folder, link_existing=link_existing) as staging:
                bound.arguments[argument] = str(staging)
                return method(*bound.args, **bound.kwargs)

        return wrapper

    return decorate
