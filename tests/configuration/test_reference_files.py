"""adapter_config.json files written by the reference adapters 1.3.0 load as the right class with the same hash."""

import json
from pathlib import Path

import pytest

from adapters.configuration import ADAPTER_CONFIG_MAP, AdapterConfig, AdapterPlusConfig, get_adapter_config_hash
from adapters.configuration import migrate_saved_config as migrate

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
CONFIGS = REFERENCE / "configs"
MANIFEST = REFERENCE / "manifest.json"

pytestmark = pytest.mark.skipif(
    not CONFIGS.is_dir(), reason="reference fixtures (tests/fixtures/reference/configs) absent"
)

# The reference cannot express DiReFT in a file (subtract_projection was not saved): it reloads as NoReFT there too.
EXPECTED_CLASS_OVERRIDES = {"DiReftConfig": "NoReftConfig"}


def _index():
    if not CONFIGS.is_dir():
        return {}
    return json.loads((CONFIGS / "index.json").read_text())


def _known(ours: dict, saved: dict) -> dict:
    """``ours`` without the fields this library added that ``saved`` (a reference file) lacks, also in unions."""
    if "configs" in ours and "configs" in saved:
        members = [{k: v for k, v in m.items() if k in s} for m, s in zip(ours["configs"], saved["configs"])]
        return {**ours, "configs": members}
    return ours


@pytest.mark.parametrize("identifier", sorted(_index()))
def test_reference_config_file(identifier):
    info = _index()[identifier]
    assert "file" in info, info.get("errors")
    saved = json.loads((CONFIGS / info["file"]).read_text())
    config = AdapterConfig.load(migrate(saved["config"], saved.get("version")))
    expected_class = EXPECTED_CLASS_OVERRIDES.get(info["config_class"], info["config_class"])
    assert type(config).__name__ == expected_class
    assert get_adapter_config_hash(config) == info["config_hash"]
    assert get_adapter_config_hash(saved["config"]) == info["config_hash"]
    assert info["config_key_in_model"] == info["config_hash"]
    preset = AdapterPlusConfig() if identifier == "AdapterPlusConfig" else ADAPTER_CONFIG_MAP[identifier]
    ours, theirs = _known(preset.to_dict(), saved["config"]), saved["config"]
    assert {k: v for k, v in ours.items() if k in theirs} == {
        k: v for k, v in theirs.items() if k in ours or k == "configs"
    }
    # Loading the file path directly (adapter_config.json form) gives the same.
    assert AdapterConfig.load(str(CONFIGS / info["file"])) == config


def _fixtures():
    if not MANIFEST.is_file():
        return []
    manifest = json.loads(MANIFEST.read_text())
    return [
        (family, name, entry)
        for family, data in manifest.get("families", {}).items()
        for name, entry in data.get("fixtures", {}).items()
        if "config_hash" in entry and (REFERENCE / family / name / "adapter_config.json").is_file()
    ]


@pytest.mark.parametrize("family, name, entry", _fixtures(), ids=lambda x: x if isinstance(x, str) else "")
def test_reference_fixture_config(family, name, entry):
    path = REFERENCE / family / name / "adapter_config.json"
    config = AdapterConfig.load(str(path))
    assert type(config).__name__ == entry["config_class"]
    assert get_adapter_config_hash(config) == entry["config_hash"]
    spec = AdapterPlusConfig() if entry["spec"] == "AdapterPlusConfig()" else entry["spec"]
    assert AdapterConfig.load(spec) == config  # the reference's config string parses to the same config
