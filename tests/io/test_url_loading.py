"""load_adapter from http(s) URLs: archives and folders, downloaded once into the cache, safely."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile

import pytest
import torch

import adapters.io.download as download
from adapters.errors import AdapterFileNotFoundError, UnsafeArchiveError
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import inputs, output


@pytest.fixture
def saved(tmp_path):
    model = adapter_model("bert")
    model.add_adapter("sst", config="seq_bn", set_active=True)
    randomize_adapter(model, "sst")
    model.save_adapter(tmp_path / "saved" / "sst", "sst")
    return tmp_path / "saved" / "sst", output(model, inputs("bert"))


def _zip_folder(folder, archive, prefix="sst/"):
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(folder.iterdir()):
            zf.write(file, prefix + file.name)


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_zip_url_is_downloaded_once_and_loads_the_same_adapter(saved, http_server, tmp_path):
    folder, expected = saved
    _zip_folder(folder, http_server.root / "sst.zip")
    url, cache = http_server.url + "sst.zip", tmp_path / "cache"
    for _ in range(2):
        model = adapter_model("bert")
        assert model.load_adapter(url, set_active=True, cache_dir=cache) == "sst"
        torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    assert http_server.count("GET", "/sst.zip") == 1  # the second load used the cache (same ETag)
    assert http_server.count("HEAD", "/sst.zip") == 2
    names = [p.name for p in cache.iterdir()]
    assert len([n for n in names if n.endswith("-extracted")]) == 1
    assert not [n for n in names if n.startswith(".")]  # no temporary leftovers


def test_tar_url_with_files_at_the_root_and_a_changed_etag_downloads_again(saved, http_server, tmp_path):
    folder, expected = saved
    archive = http_server.root / "sst.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for file in sorted(folder.iterdir()):
            tf.add(file, file.name)
    url, cache = http_server.url + "sst.tar.gz", tmp_path / "cache"
    model = adapter_model("bert")
    model.load_adapter(url, set_active=True, cache_dir=cache)
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    with tarfile.open(archive, "w:gz") as tf:  # new content, new ETag
        for file in sorted(folder.iterdir()):
            tf.add(file, file.name)
        data = b"changed"
        info = tarfile.TarInfo("NOTES.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    adapter_model("bert").load_adapter(url, cache_dir=cache)
    assert http_server.count("GET", "/sst.tar.gz") == 2


def test_folder_url_fetches_the_known_files(saved, http_server, tmp_path):
    folder, expected = saved
    shutil.copytree(folder, http_server.root / "adapters" / "sst")
    model = adapter_model("bert")
    model.load_adapter(http_server.url + "adapters/sst/", set_active=True, cache_dir=tmp_path / "cache")
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    fetched = {p for m, p in http_server.log if m == "GET"}
    assert {"/adapters/sst/adapter_config.json", "/adapters/sst/adapter.safetensors"} <= fetched


def test_an_unreachable_server_falls_back_to_the_cached_copy(saved, http_server, tmp_path):
    folder, expected = saved
    _zip_folder(folder, http_server.root / "sst.zip")
    url, cache = http_server.url + "sst.zip", tmp_path / "cache"
    adapter_model("bert").load_adapter(url, cache_dir=cache)
    http_server.stop()
    model = adapter_model("bert")
    model.load_adapter(url, set_active=True, cache_dir=cache)
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    with pytest.raises(AdapterFileNotFoundError, match="could not be reached .* not in the cache"):
        adapter_model("bert").load_adapter(url, cache_dir=tmp_path / "empty-cache")


def test_a_partial_download_never_looks_complete(saved, http_server, tmp_path):
    folder, _ = saved
    _zip_folder(folder, http_server.root / "sst.zip")
    http_server.truncated.add("/sst.zip")
    cache, model = tmp_path / "cache", adapter_model("bert")
    with pytest.raises(AdapterFileNotFoundError, match="incomplete"):
        model.load_adapter(http_server.url + "sst.zip", cache_dir=cache)
    assert _tree(cache) == [] and not model.has_adapters()
    http_server.truncated.clear()  # a later, complete download works
    model.load_adapter(http_server.url + "sst.zip", cache_dir=cache)
    assert "sst" in model.adapters_config


def test_url_errors_name_the_url_and_the_reason(http_server, tmp_path):
    model = adapter_model("bert")
    with pytest.raises(AdapterFileNotFoundError, match=r"missing\.zip: the server answered HTTP 404"):
        model.load_adapter(http_server.url + "missing.zip", cache_dir=tmp_path / "cache")
    (http_server.root / "page.zip").write_text("<html>moved</html>")
    with pytest.raises(AdapterFileNotFoundError, match="not a zip or tar archive.*end the URL with '/'"):
        model.load_adapter(http_server.url + "page.zip", cache_dir=tmp_path / "cache")
    with pytest.raises(AdapterFileNotFoundError, match="a folder URL must serve"):
        model.load_adapter(http_server.url + "nothing/", cache_dir=tmp_path / "cache")
    assert not model.has_adapters()


def test_a_malicious_archive_url_is_refused_and_writes_nothing_outside_the_cache(saved, http_server, tmp_path):
    folder, _ = saved
    archive = http_server.root / "evil.zip"
    _zip_folder(folder, archive)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("../../../escaped.txt", "pwned")
    cache, model = tmp_path / "deep" / "cache", adapter_model("bert")
    before = set(_tree(tmp_path))
    with pytest.raises(UnsafeArchiveError, match="outside the archive"):
        model.load_adapter(http_server.url + "evil.zip", cache_dir=cache)
    written = set(_tree(tmp_path)) - before
    assert all(p.startswith("deep") for p in written)  # the cache and its parents only
    assert not [p for p in written if p.endswith("-extracted") or "escaped" in p]
    assert not model.has_adapters()


def test_a_download_over_the_size_limit_is_refused_and_leaves_nothing(saved, http_server, tmp_path):
    folder, _ = saved
    _zip_folder(folder, http_server.root / "sst.zip")
    size = (http_server.root / "sst.zip").stat().st_size
    cache = tmp_path / "cache"
    with pytest.raises(AdapterFileNotFoundError, match=f"exceeds the size limit of {size - 1} bytes"):
        download.resolve_url(http_server.url + "sst.zip", cache_dir=cache, max_bytes=size - 1)
    assert _tree(cache) == []  # no partial file, no metadata
    assert download.resolve_url(http_server.url + "sst.zip", cache_dir=cache, max_bytes=size).is_dir()
