"""list_adapters / get_adapter_info on a recorded answer of the Hub's model listing (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import ModelInfo

import adapters
from adapters import AdapterInfo, AdapterType, get_adapter_info, list_adapters
from adapters.errors import AdapterConfigError

ANSWER = json.loads((Path(__file__).parents[1] / "fixtures" / "hub" / "list_models.answer.json").read_text())


class _RecordedHub:
    calls: list = []

    def __init__(self, *args, **kwargs):
        pass

    def list_models(self, **kwargs):
        self.calls.append(("list_models", kwargs))
        return iter(ModelInfo(**entry) for entry in ANSWER)

    def model_info(self, repo_id, **kwargs):
        self.calls.append(("model_info", repo_id))
        for entry in ANSWER:
            if entry["id"] == repo_id:
                return ModelInfo(**entry)
        import httpx2
        from huggingface_hub.errors import RepositoryNotFoundError

        request = httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
        raise RepositoryNotFoundError(f"{repo_id} not found", response=httpx2.Response(404, request=request))


@pytest.fixture
def recorded_hub(monkeypatch):
    _RecordedHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", _RecordedHub)
    return _RecordedHub


def test_list_adapters_parses_the_recorded_answer(recorded_hub):
    found = list_adapters()
    assert recorded_hub.calls == [("list_models", {"filter": "adapters", "full": True, "fetch_config": True})]
    assert found[0] == AdapterInfo(
        source="hf",
        adapter_id="AdapterHub/bert-base-uncased-pf-sst2",
        model_name="bert-base-uncased",
        task="sentiment",
        subtask="sst-2",
        username="AdapterHub",
        sha1_checksum="9e0a6f3c1d2b4a5e6f708192a3b4c5d6e7f80912",
    )
    assert found[1].model_name == "roberta-base" and found[1].subtask == "imdb"  # the "adapters" config key
    assert found[2] == AdapterInfo(
        source="hf", adapter_id="someone/my-adapter", username="someone", sha1_checksum="1" * 40
    )
    assert [a.adapter_id for a in list_adapters(model_name="roberta-base")] == ["AdapterHub/roberta-base-pf-imdb"]


def test_get_adapter_info_and_unknown_repos(recorded_hub):
    info = get_adapter_info("AdapterHub/roberta-base-pf-imdb")
    assert info.model_name == "roberta-base" and info.task == "sentiment" and info.username == "AdapterHub"
    assert get_adapter_info("nobody/nothing") is None


def test_archived_adapterhub_listing_is_refused_with_the_reason(recorded_hub):
    with pytest.raises(AdapterConfigError, match="'ah'.*archived"):
        list_adapters(source="ah")
    assert recorded_hub.calls == []


def test_reference_names_are_exported_at_the_top_level():
    for name in ("ADAPTER_CACHE", "AdapterInfo", "AdapterType", "get_adapter_info", "list_adapters"):
        assert name in adapters.__all__ and hasattr(adapters, name)
    assert adapters.ADAPTER_CACHE.endswith("adapters")
    assert AdapterType.has("text_task") and AdapterType.has("text_lang") and not AdapterType.has("other")
