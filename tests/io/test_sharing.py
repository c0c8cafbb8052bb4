"""push_adapter_to_hub and model cards: the folder that would be uploaded is checked (a recording HfApi, no
network), and it loads back as the same adapter."""

from __future__ import annotations

import shutil

import huggingface_hub
import pytest
import torch

from adapters import AutoAdapterModel
from adapters.errors import AdapterConfigError
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import config, inputs, output


class _RecordingHub:
    """Stands in for ``huggingface_hub.HfApi``: records calls and copies the uploaded folder."""

    calls: list = []
    uploaded = None
    readme_exists = False

    def __init__(self, token=None):
        self.calls.append(("init", token))

    def create_repo(self, repo_id, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, private, exist_ok))

    def file_exists(self, repo_id, filename, revision=None):
        self.calls.append(("file_exists", repo_id, filename, revision))
        return self.readme_exists

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", {k: v for k, v in kwargs.items() if k != "folder_path"}))
        shutil.copytree(kwargs["folder_path"], type(self).uploaded)
        return "commit-info"


@pytest.fixture
def hub(monkeypatch, tmp_path):
    _RecordingHub.calls, _RecordingHub.uploaded, _RecordingHub.readme_exists = [], tmp_path / "uploaded", False
    monkeypatch.setattr(huggingface_hub, "HfApi", _RecordingHub)
    return _RecordingHub


def _flex_model():
    torch.manual_seed(0)
    model = AutoAdapterModel.from_config(config("bert"))
    model.config.name_or_path = "bert-base-uncased"
    model.add_adapter("sst", config="lora[r=4]")
    model.add_classification_head("sst", num_labels=3)
    model.train_adapter("sst")
    randomize_adapter(model, "sst")
    return model.eval()


def test_push_uploads_the_saved_adapter_head_and_card(hub):
    model = _flex_model()
    result = model.push_adapter_to_hub(
        "me/bert-sst",
        "sst",
        datasets_tag="sentiment/sst-2",
        private=True,
        token="tok",
        adapter_card_kwargs={
            "language": "en",
            "license": "apache-2.0",
            "metrics": ["accuracy"],
            "training": {"learning_rate": 1e-4, "epochs": 3, "train_loss": 0.21},
            "results": {"accuracy": 0.91},
        },
    )
    assert result == "commit-info"
    assert hub.calls[:3] == [
        ("init", "tok"),
        ("create_repo", "me/bert-sst", True, True),
        ("file_exists", "me/bert-sst", "README.md", None),
    ]
    assert hub.calls[3] == (
        "upload_folder",
        {
            "repo_id": "me/bert-sst",
            "commit_message": "Add adapter sst",
            "commit_description": None,
            "revision": None,
            "create_pr": False,
        },
    )
    files = sorted(p.name for p in hub.uploaded.iterdir())
    assert files == [
        "README.md",
        "adapter.safetensors",
        "adapter_config.json",
        "head_config.json",
        "model_head.safetensors",
    ]
    card = (hub.uploaded / "README.md").read_text()
    header = card.split("---")[1]
    for line in (
        "library_name: adapters",
        "base_model: bert-base-uncased",
        "- adapter-transformers",
        "- adapters",
        "- bert",
        "- lora",
        "- adapterhub:sentiment/sst-2",
        "datasets:\n- sentiment/sst-2",
        "language:\n- en",
        "license: apache-2.0",
        "metrics:\n- accuracy",
    ):
        assert line in header, line
    assert "`LoRAConfig` (r=4)" in card and "Prediction head: classification (3 labels)" in card
    assert 'model.load_adapter("me/bert-sst", set_active=True)' in card
    assert "| learning_rate | 0.0001 |" in card and "| epochs | 3 |" in card and "| accuracy | 0.91 |" in card
    again = AutoAdapterModel.from_config(config("bert"))
    again.load_state_dict(model.state_dict(), strict=False)  # same base weights
    assert again.eval().load_adapter(str(hub.uploaded), set_active=True) == "sst"
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs("bert")).logits, model(**inputs("bert")).logits)


def test_an_existing_card_is_kept_unless_overwritten_and_local_path_is_kept(hub, tmp_path):
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn")
    hub.readme_exists = True
    model.push_adapter_to_hub("me/a", "a", local_path=str(tmp_path / "local"), commit_message="v1")
    assert "README.md" not in [p.name for p in hub.uploaded.iterdir()]
    assert (tmp_path / "local" / "adapter_config.json").is_file()
    shutil.rmtree(hub.uploaded)
    model.push_adapter_to_hub("me/a", "a", overwrite_adapter_card=True, revision="dev", create_pr=True)
    assert (hub.uploaded / "README.md").is_file()
    assert hub.calls[-1][1]["revision"] == "dev" and hub.calls[-1][1]["create_pr"] is True


def test_bad_card_arguments_fail_before_anything_is_created(hub):
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn")
    with pytest.raises(AdapterConfigError, match="Unknown model card arguments \\['licence'\\]"):
        model.push_adapter_to_hub("me/a", "a", adapter_card_kwargs={"licence": "mit"})
    assert hub.calls == []


def test_save_adapter_with_a_model_card(tmp_path):
    model = adapter_model("bert")
    model.add_adapter("a", config="seq_bn", set_active=True)
    randomize_adapter(model, "a")
    model.save_adapter(tmp_path / "plain", "a")
    assert not (tmp_path / "plain" / "README.md").exists()
    model.save_adapter(tmp_path / "card", "a", model_card={"tags": ["demo"], "results": "not evaluated yet"})
    card = (tmp_path / "card" / "README.md").read_text()
    assert "- demo" in card and "- bottleneck" in card and "`SeqBnConfig`" in card and "not evaluated yet" in card
    assert "Training figures: not given." in card and "base_model" not in card  # a tiny model has no name
    again = adapter_model("bert")
    again.load_adapter(str(tmp_path / "card"), set_active=True)
    torch.testing.assert_close(output(again, inputs("bert")), output(model, inputs("bert")), atol=0, rtol=0)
