"""Safe extraction of downloaded archives: malicious members are refused and nothing is written outside the cache."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest

from adapters.errors import UnsafeArchiveError
from adapters.io.archive import extract_archive, is_archive


def _zip(path, members: dict[str, bytes], symlinks: dict[str, str] | None = None):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            zf.writestr(info, target)
    return path


def _tar(path, members: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    return path


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


GOOD = {"adapter/adapter_config.json": b"{}", "adapter/adapter.safetensors": b"weights"}


@pytest.mark.parametrize("make", [_zip, _tar], ids=["zip", "tar.gz"])
def test_a_safe_archive_is_extracted_completely(tmp_path, make):
    archive = make(tmp_path / "good", GOOD)
    assert is_archive(archive)
    target = extract_archive(archive, tmp_path / "cache" / "x-extracted")
    assert (target / "adapter" / "adapter_config.json").read_bytes() == b"{}"
    assert (target / "adapter" / "adapter.safetensors").read_bytes() == b"weights"
    assert _tree(tmp_path / "cache") == [
        "x-extracted",
        "x-extracted/adapter",
        "x-extracted/adapter/adapter.safetensors",
        "x-extracted/adapter/adapter_config.json",
    ]


MALICIOUS = {
    "zip traversal": (_zip, {**GOOD, "../../escaped.txt": b"x"}, None, "outside the archive"),
    "zip absolute": (_zip, {**GOOD, "/tmp/escaped-abs.txt": b"x"}, None, "absolute path"),
    "zip windows absolute": (_zip, {**GOOD, "C:\\escaped.txt": b"x"}, None, "absolute path"),
    "zip symlink": (_zip, GOOD, {"adapter/link": "/etc/passwd"}, "symbolic link"),
    "tar traversal": (_tar, {**GOOD, "adapter/../../escaped.txt": b"x"}, None, "outside the archive"),
    "tar absolute": (_tar, {**GOOD, "/tmp/escaped-abs.txt": b"x"}, None, "absolute path"),
    "tar symlink": (_tar, GOOD, {"adapter/link": (tarfile.SYMTYPE, "../../outside")}, "is a link"),
    "tar hardlink": (_tar, GOOD, {"adapter/hard": (tarfile.LNKTYPE, "/etc/passwd")}, "is a link"),
    "tar device": (_tar, GOOD, {"adapter/dev": (tarfile.CHRTYPE, "")}, "device"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_refused_and_write_nothing(tmp_path, case):
    make, members, links, message = MALICIOUS[case]
    work = tmp_path / "work"
    work.mkdir()
    archive = make(tmp_path / "evil", members, links)
    cache = work / "cache"
    cache.mkdir()
    before = _tree(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=message):
        extract_archive(archive, cache / "evil-extracted")
    assert _tree(tmp_path) == before  # nothing inside the cache, nothing next to or above it
    assert not os.path.exists("/tmp/escaped-abs.txt")


@pytest.mark.parametrize("make", [_zip, _tar], ids=["zip", "tar.gz"])
def test_oversized_members_and_archives_are_refused(tmp_path, make):
    big = make(tmp_path / "big", {**GOOD, "adapter/huge.bin": b"0" * 5000})
    with pytest.raises(UnsafeArchiveError, match="huge.bin.*over the limit of 1000 bytes"):
        extract_archive(big, tmp_path / "cache" / "a", max_bytes=1000)
    many = make(tmp_path / "many", {f"adapter/part{i}.bin": b"0" * 400 for i in range(4)})
    with pytest.raises(UnsafeArchiveError, match="unpacks to 1600 bytes, over the limit of 1000"):
        extract_archive(many, tmp_path / "cache" / "b", max_bytes=1000)
    assert _tree(tmp_path / "cache") == []


def test_a_zip_whose_content_exceeds_its_declared_size_is_refused(tmp_path):
    archive = _zip(tmp_path / "lying.zip", {"adapter/a.bin": b"0" * 3000})
    with zipfile.ZipFile(archive) as zf:
        info = zf.infolist()[0]
    # the declared size is read from the central directory; make it claim fewer bytes than the data holds
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    assert info.file_size == 3000
    with pytest.raises(UnsafeArchiveError, match="corrupt|exceeds the size limit"):
        extract_archive(archive, tmp_path / "cache" / "x", max_bytes=1000)
    assert not (tmp_path / "cache" / "x").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_a_file_that_is_no_archive_is_refused(tmp_path):
    plain = tmp_path / "plain.zip"
    plain.write_text("<html>not found</html>")
    assert not is_archive(plain)
    with pytest.raises(UnsafeArchiveError, match="neither a zip nor a tar"):
        extract_archive(plain, tmp_path / "out")
    assert not (tmp_path / "out").exists()
