"""load_adapter from the Hugging Face Hub (a cache laid out by the test, offline) and from legacy AdapterHub
identifiers (a sample index file); the error that lists every place tried; the deprecated config/model_name."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from transformers import BertForSequenceClassification

import adapters
import adapters.io.download as download
import adapters.io.hub_index as hub_index
from adapters import AutoAdapterModel
from adapters.errors import AdapterConfigError, AdapterFileNotFoundError, UnsupportedMethodError
from adapters.io.hub_index import find_in_index, index_repo_id, parse_identifier
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import config, inputs, output

INDEX = Path(__file__).parents[1] / "fixtures" / "hub" / "hub-index.sample.json"
PFEIFFER_REPO = "AdapterHub/bert-base-uncased_sentiment_sst-2_pfeiffer"


def _save(tmp_path, name: str, config: str, seed: int):
    model = adapter_model("bert")
    model.add_adapter(name, config=config, set_active=True)
    randomize_adapter(model, name, seed=seed)
    model.save_adapter(tmp_path / "saved" / f"{name}-{seed}", name)
    return tmp_path / "saved" / f"{name}-{seed}", output(model, inputs("bert"))


def _hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = "main") -> None:
    """Lay out ``folder`` as the snapshot of ``repo_id`` at ``revision`` in a Hugging Face Hub cache."""
    storage = cache / f"models--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest()
    (storage / "refs").mkdir(parents=True, exist_ok=True)
    (storage / "refs" / revision).write_text(commit)
    shutil.copytree(folder, storage / "snapshots" / commit)


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """Hub offline mode on (as in the test suite), ADAPTER_CACHE in the test's folder, the sample index cached."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "adapter-cache"
    cache.mkdir()
    monkeypatch.setattr(download, "ADAPTER_CACHE", str(cache))
    url = hub_index.ADAPTER_HUB_INDEX_FILE.format("bert-base-uncased")
    shutil.copy(INDEX, cache / hashlib.sha256(url.encode()).hexdigest())  # as a previous download left it
    return tmp_path / "hub-cache"


def test_hub_repo_id_loads_from_the_hub_cache_and_version_picks_the_revision(tmp_path, offline_hub):
    main, expected_main = _save(tmp_path, "sst", "seq_bn", seed=1)
    tagged, expected_tagged = _save(tmp_path, "sst", "seq_bn", seed=2)
    _hub_cache(offline_hub, "someone/sst-adapter", main)
    _hub_cache(offline_hub, "someone/sst-adapter", tagged, revision="v2")
    for version, expected in ((None, expected_main), ("v2", expected_tagged)):
        model = adapter_model("bert")
        name = model.load_adapter("someone/sst-adapter", version=version, cache_dir=offline_hub, set_active=True)
        assert name == "sst"
        torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)
    assert not torch.equal(expected_main, expected_tagged)


def test_the_error_lists_every_place_tried_and_offline_mode(tmp_path, offline_hub):
    model = adapter_model("bert")
    model.config.name_or_path = "bert-base-uncased"
    with pytest.raises(AdapterFileNotFoundError) as error:
        model.load_adapter("sentiment/imdb", cache_dir=offline_hub)
    message = str(error.value)
    assert "Cannot load adapter 'sentiment/imdb' from any source" in message
    assert "local folder: not a local folder" in message
    assert "Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE=1)" in message and "'sentiment/imdb'" in message
    assert "AdapterHub index: offline mode is on" in message
    assert "'AdapterHub/bert-base-uncased_sentiment_imdb_pfeiffer'" in message  # the redirect it tried
    assert not model.has_adapters()


def test_a_hub_repo_without_an_adapter_is_reported(tmp_path, offline_hub):
    (tmp_path / "model-only").mkdir()
    (tmp_path / "model-only" / "config.json").write_text("{}")
    _hub_cache(offline_hub, "someone/a-model", tmp_path / "model-only")
    with pytest.raises(AdapterFileNotFoundError, match=r"Hugging Face Hub: .*adapter_config.json is missing"):
        adapter_model("bert").load_adapter("someone/a-model", cache_dir=offline_hub)


def test_legacy_identifier_is_redirected_through_the_index(tmp_path, offline_hub, caplog):
    folder, expected = _save(tmp_path, "sst-2", "seq_bn", seed=3)
    _hub_cache(offline_hub, PFEIFFER_REPO, folder)
    model = adapter_model("bert")
    model.config.name_or_path = "bert-base-uncased"
    with caplog.at_level("WARNING"):
        assert model.load_adapter("sentiment/sst-2@ukp", cache_dir=offline_hub, set_active=True) == "sst-2"
    assert f"Automatic redirect to the Hugging Face Hub repo '{PFEIFFER_REPO}'" in caplog.text
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)


def test_deprecated_config_and_model_name_select_in_the_index(tmp_path, offline_hub):
    folder, expected = _save(tmp_path, "sst-2", "double_seq_bn", seed=4)
    _hub_cache(offline_hub, "AdapterHub/bert-base-uncased_sentiment_sst-2_houlsby", folder)
    model = adapter_model("bert")  # no name_or_path: model_name= names the base model for the index
    with pytest.warns(FutureWarning, match="deprecated"):
        model.load_adapter(
            "sentiment/sst-2", config="houlsby", model_name="bert-base-uncased", cache_dir=offline_hub, set_active=True
        )
    torch.testing.assert_close(output(model, inputs("bert")), expected, atol=0, rtol=0)


def test_deprecated_arguments_that_cannot_apply_raise(tmp_path):
    folder, _ = _save(tmp_path, "sst", "seq_bn", seed=5)
    model = adapter_model("bert")
    for kwargs in ({"config": "seq_bn"}, {"model_name": "bert-base-uncased"}):
        with (
            pytest.warns(FutureWarning),
            pytest.raises(AdapterConfigError, match="found the adapter in a local folder.*remove them"),
        ):
            model.load_adapter(str(folder), **kwargs)
    assert not model.has_adapters()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.load_adapter(str(folder))  # no warning without them


@pytest.mark.parametrize("kind", ["base", "flex", "static"])
def test_custom_weights_loaders_raise_and_leave_model_and_files_as_they_were(tmp_path, kind):
    folder, _ = _save(tmp_path, "sst", "seq_bn", seed=6)
    model = {
        "base": lambda: adapter_model("bert"),
        "flex": lambda: AutoAdapterModel.from_config(config("bert")),
        "static": lambda: adapters.init(BertForSequenceClassification(config("bert"))),
    }[kind]()
    with pytest.raises(UnsupportedMethodError, match=r"load_adapter\(custom_weights_loaders="):
        model.load_adapter(str(folder), custom_weights_loaders=[object()])
    assert not model.has_adapters()
    model.add_adapter("a")
    with pytest.raises(UnsupportedMethodError, match=r"save_adapter\(custom_weights_loaders="):
        model.save_adapter(str(tmp_path / "out"), "a", custom_weights_loaders=[object()])
    assert not (tmp_path / "out").exists()
    assert model.load_adapter(str(folder), custom_weights_loaders=None) == "sst"  # None (the default) is fine


def test_an_identifier_needs_the_base_model_name(offline_hub):
    with pytest.raises(AdapterFileNotFoundError, match="model has no name .*pass model_name="):
        adapter_model("bert").load_adapter("sentiment/sst-2@ukp", cache_dir=offline_hub)


def test_index_is_downloaded_once_and_then_used_offline(monkeypatch, tmp_path, http_server):
    (http_server.root / "index").mkdir()
    shutil.copy(INDEX, http_server.root / "index" / "bert-base-uncased.json")
    monkeypatch.setattr(download, "ADAPTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub_index, "ADAPTER_HUB_INDEX_FILE", http_server.url + "index/{}.json")
    monkeypatch.setattr(hub_index, "hub_offline", lambda: False)
    assert index_repo_id("sentiment/sst-2@ukp", "google-bert/bert-base-uncased") == PFEIFFER_REPO
    assert http_server.count("GET", "/index/bert-base-uncased.json") == 1  # the org-less name was found
    monkeypatch.setattr(hub_index, "hub_offline", lambda: True)
    http_server.stop()
    assert index_repo_id("nli/multinli", "bert-base-uncased") == "AdapterHub/bert-base-uncased_nli_multinli_pfeiffer"


@pytest.mark.parametrize(
    ("identifier", "kwargs", "expected"),
    [
        ("sentiment/sst-2@ukp", {}, "adapters/ukp/bert-base-uncased_sentiment_sst-2_pfeiffer.json"),
        ("sentiment/sst-2", {}, "adapters/ukp/bert-base-uncased_sentiment_sst-2_pfeiffer.json"),
        ("sentiment/sst-2@other", {}, "adapters/other/bert-base-uncased_sentiment_sst-2_pfeiffer-other.json"),
        (
            "sentiment/sst-2",
            {"adapter_config": "houlsby"},
            "adapters/ukp/bert-base-uncased_sentiment_sst-2_houlsby.json",
        ),
        (
            "sentiment/sst-2",
            {"adapter_config": "lora"},
            "adapters/ukp/bert-base-uncased_sentiment_sst-2_pfeiffer.json",
        ),
        ("sentiment/sst-2", {"adapter_config": "lora", "strict": True}, None),
        ("sentiment/imdb", {}, "adapters/ukp/bert-base-uncased_sentiment_imdb_pfeiffer.json"),
        ("imdb", {}, "adapters/ukp/bert-base-uncased_sentiment_imdb_pfeiffer.json"),  # a subtask name alone
        ("sts", {}, "adapters/ukp/bert-base-uncased_sts_qqp_pfeiffer.json"),  # a task with one subtask
        ("qqp@ukp", {}, "adapters/ukp/bert-base-uncased_sts_qqp_pfeiffer.json"),
        ("sentiment/sst-2@nobody", {}, None),
        ("nli/qnli", {}, None),
        (
            "@ukp/bert-base-uncased_sentiment_sst-2_pfeiffer",
            {},
            "adapters/ukp/bert-base-uncased_sentiment_sst-2_pfeiffer.json",
        ),
    ],
)
def test_find_in_index(identifier, kwargs, expected):
    assert find_in_index(identifier, "bert-base-uncased", index_file=INDEX, **kwargs) == expected


def test_find_in_index_refuses_ambiguous_and_malformed_identifiers():
    with pytest.raises(AdapterConfigError, match="several AdapterHub entries .*sentiment/sst-2, sentiment/imdb"):
        find_in_index("sentiment", "bert-base-uncased", index_file=INDEX)
    with pytest.raises(AdapterConfigError, match="not an AdapterHub identifier"):
        find_in_index("a/b/c", "bert-base-uncased", index_file=INDEX)
    assert parse_identifier("https://example.org/x.zip") is None


def test_a_local_folder_comes_before_a_hub_repo_of_the_same_name(tmp_path, offline_hub, monkeypatch):
    local, expected_local = _save(tmp_path, "sst", "seq_bn", seed=6)
    hub, expected_hub = _save(tmp_path, "sst", "seq_bn", seed=7)
    _hub_cache(offline_hub, "someone/sst-adapter", hub)
    model = adapter_model("bert")
    model.load_adapter("someone/sst-adapter", cache_dir=offline_hub, set_active=True)
    torch.testing.assert_close(output(model, inputs("bert")), expected_hub, atol=0, rtol=0)
    shutil.copytree(local, tmp_path / "cwd" / "someone" / "sst-adapter")
    monkeypatch.chdir(tmp_path / "cwd")  # now "someone/sst-adapter" is also a local folder: the reference's order
    model = adapter_model("bert")
    model.load_adapter("someone/sst-adapter", cache_dir=offline_hub, set_active=True)
    torch.testing.assert_close(output(model, inputs("bert")), expected_local, atol=0, rtol=0)
    assert not torch.equal(expected_local, expected_hub)
