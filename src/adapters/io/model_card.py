"""The README (model card) written next to a shared adapter.

The YAML header carries the metadata the Hugging Face Hub indexes: ``library_name: adapters``, ``base_model``, tags
(``adapter-transformers`` and ``adapters`` for the Hub's library detection, the model type, the method, the
AdapterHub task tag ``adapterhub:<dataset>``), and datasets, language, license and metrics when given. The body
says what the adapter is (method and its main settings, the head saved with it), shows how to load it, and lists
training figures and results when they are known.
"""

from __future__ import annotations

from typing import Any

from ..configuration import ConfigUnion
from ..methods.registry import method_for_config

__all__ = ["CARD_KWARGS", "build_adapter_card"]

# keyword arguments accepted in ``adapter_card_kwargs`` / ``model_card={...}``
CARD_KWARGS = (
    "tags",
    "language",
    "license",
    "metrics",
    "architecture_training",
    "training",
    "results",
    "citation",
)


def _yaml_list(key: str, values: list[str]) -> list[str]:
    return [f"{key}:"] + [f"- {v}" for v in values] if values else []


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def _method(config) -> str:
    """A one-line description of an adapter config: its class and the settings that differ from the defaults."""
    members = config.configs if isinstance(config, ConfigUnion) else [config]
    parts = []
    for member in members:
        defaults = type(member)().to_dict()
        changed = {k: v for k, v in member.to_dict().items() if defaults.get(k) != v and k != "architecture"}
        settings = ", ".join(f"{k}={v!r}" for k, v in sorted(changed.items()))
        parts.append(f"`{type(member).__name__}`" + (f" ({settings})" if settings else ""))
    return " + ".join(parts)


def _architecture(config) -> str:
    members = config.configs if isinstance(config, ConfigUnion) else [config]
    return "-".join(dict.fromkeys(method_for_config(m).name for m in members))


def _head(model, name: str) -> str | None:
    heads = getattr(model, "heads", None) or {}
    if name not in heads:
        return None
    head_config = getattr(heads[name], "config", {}) or {}
    head_type = head_config.get("head_type", type(heads[name]).__name__)
    labels = head_config.get("num_labels")
    return f"{head_type}" + (f" ({labels} labels)" if labels else "")


def _table(values: dict[str, Any]) -> list[str]:
    rows = ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in values.items()]
    return rows + [""]


def build_adapter_card(
    model,
    adapter_name: str,
    repo_id: str | None = None,
    datasets_tag: str | None = None,
    **card_kwargs: Any,
) -> str:
    """The README of adapter ``adapter_name`` of ``model`` (see the module docstring).

    ``card_kwargs``: ``tags``, ``language``, ``license``, ``metrics`` (header), ``architecture_training`` (text),
    ``training`` (a dict of training figures such as learning rate, epochs, final loss), ``results`` (a dict of
    evaluation results, or text) and ``citation`` (BibTeX).
    """
    unknown = sorted(set(card_kwargs) - set(CARD_KWARGS))
    if unknown:
        from ..errors import AdapterConfigError

        raise AdapterConfigError(f"Unknown model card arguments {unknown}; allowed: {', '.join(CARD_KWARGS)}.")
    base = getattr(model.config, "name_or_path", "") or None
    header = _header(model, adapter_name, base, datasets_tag, card_kwargs)
    return "\n".join(header + _body(model, adapter_name, base, repo_id, datasets_tag, card_kwargs))


def _header(model, adapter_name: str, base: str | None, datasets_tag: str | None, card_kwargs: dict) -> list[str]:
    """The YAML metadata block."""
    model_type = model.config.model_type
    tags = ["adapter-transformers", "adapters", model_type, _architecture(model.adapters_config.get(adapter_name))]
    tags += [f"adapterhub:{datasets_tag}"] if datasets_tag else []
    tags += _as_list(card_kwargs.get("tags"))
    header = ["---", "library_name: adapters"] + ([f"base_model: {base}"] if base else [])
    header += _yaml_list("tags", list(dict.fromkeys(tags)))
    header += _yaml_list("datasets", _as_list(datasets_tag))
    header += _yaml_list("language", _as_list(card_kwargs.get("language")))
    header += [f"license: {card_kwargs['license']}"] if card_kwargs.get("license") else []
    header += _yaml_list("metrics", _as_list(card_kwargs.get("metrics")))
    return header + ["---", ""]


def _body(model, adapter_name, base, repo_id, datasets_tag, card_kwargs: dict) -> list[str]:
    """The Markdown text: what the adapter is, how to load it, training figures and results."""
    model_type = model.config.model_type
    head = _head(model, adapter_name)
    body = [f"# Adapter `{repo_id or adapter_name}` for {base or model_type}", ""]
    body += [
        f"An adapter for the `{base or model_type}` model ({model_type}), made with the "
        "[adapters](https://github.com/adapter-hub/adapters) library"
        + (f", trained on `{datasets_tag}`" if datasets_tag else "")
        + ".",
        "",
        f"- Method: {_method(model.adapters_config.get(adapter_name))}",
        f"- Prediction head: {head}" if head else "- Prediction head: none saved with the adapter",
        "",
        "## Usage",
        "",
        "```python",
        "from adapters import AutoAdapterModel",
        "",
        f'model = AutoAdapterModel.from_pretrained("{base or "<base model>"}")',
        f'adapter_name = model.load_adapter("{repo_id or "<path or repo id>"}", set_active=True)',
        "```",
        "",
    ]
    body += ["## Architecture & training", ""]
    body += [card_kwargs["architecture_training"], ""] if card_kwargs.get("architecture_training") else []
    body += _table(card_kwargs["training"]) if card_kwargs.get("training") else ["Training figures: not given.", ""]
    body += ["## Evaluation results", ""]
    results = card_kwargs.get("results")
    body += _table(results) if isinstance(results, dict) else [str(results or "Not given."), ""]
    if card_kwargs.get("citation"):
        body += ["## Citation", "", "```bibtex", card_kwargs["citation"].strip(), "```", ""]
    return body
