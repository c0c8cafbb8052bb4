"""``AdapterArguments`` and ``setup_adapter_training``: the adapter part of a training script, as in the reference.

Used with ``HfArgumentParser`` next to ``TrainingArguments``::

    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments, AdapterArguments))
    ...
    adapter_name, lang_adapter_name = setup_adapter_training(model, adapter_args, "sst2")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..composition import Stack
from ..configuration import AdapterConfig
from ..errors import TrainingSetupError

__all__ = ["AdapterArguments", "setup_adapter_training"]


@dataclass
class AdapterArguments:
    """Command-line arguments of adapter training (field names and defaults are the reference's)."""

    train_adapter: bool = field(default=False, metadata={"help": "Train an adapter instead of the full model."})
    load_adapter: str | None = field(
        default="", metadata={"help": "A saved adapter (folder or identifier) to load and train further."}
    )
    adapter_config: str | None = field(
        default="seq_bn", metadata={"help": "Adapter config: an identifier (seq_bn, lora, ...) or a config string."}
    )
    load_lang_adapter: str | None = field(
        default=None, metadata={"help": "A language adapter to load and stack below the task adapter."}
    )
    lang_adapter_config: str | None = field(
        default=None, metadata={"help": "Config of the language adapter (only needed if it cannot be read from it)."}
    )


def _index_config(source: str, config) -> dict[str, Any]:
    """``config=`` only selects adapters of the legacy AdapterHub index; a local folder's saved config is used."""
    return {} if config is None or Path(source).exists() else {"config": config}


def setup_adapter_training(
    model,
    adapter_args: AdapterArguments,
    adapter_name: str,
    adapter_config_kwargs: dict[str, Any] | None = None,
    adapter_load_kwargs: dict[str, Any] | None = None,
) -> tuple[str | None, str | None]:
    """Add or load the task adapter (and a language adapter), freeze the base model and activate the setup.

    With ``adapter_args.train_adapter``: the task adapter ``adapter_name`` is loaded from
    ``adapter_args.load_adapter`` or added with ``adapter_args.adapter_config`` (if the model does not have it yet);
    ``load_lang_adapter`` is loaded as well; ``train_adapter(adapter_name)`` freezes everything else and the active
    setup becomes ``Stack(lang, task)`` or ``task``.

    Returns:
        ``(adapter_name, lang_adapter_name)``; both ``None`` without ``train_adapter``.

    Raises:
        TrainingSetupError: an adapter is to be loaded but ``train_adapter`` is not set.
    """
    if not adapter_args.train_adapter:
        if adapter_args.load_adapter or adapter_args.load_lang_adapter:
            raise TrainingSetupError(
                "Adapters can only be loaded in adapter training mode: pass --train_adapter (train_adapter=True) "
                "together with --load_adapter / --load_lang_adapter."
            )
        return None, None
    config_kwargs = adapter_config_kwargs or {}
    load_kwargs = adapter_load_kwargs or {}
    if adapter_name not in model.adapters_config:
        config = AdapterConfig.load(adapter_args.adapter_config, **config_kwargs)
        if adapter_args.load_adapter:
            model.load_adapter(
                adapter_args.load_adapter, load_as=adapter_name, **_index_config(adapter_args.load_adapter, config),
                **load_kwargs,
            )
        else:
            model.add_adapter(adapter_name, config=config)
    lang_adapter_name = None
    if adapter_args.load_lang_adapter:
        lang_config = AdapterConfig.load(adapter_args.lang_adapter_config, **config_kwargs)
        source = adapter_args.load_lang_adapter
        lang_adapter_name = model.load_adapter(source, **_index_config(source, lang_config), **load_kwargs)
    model.train_adapter(adapter_name)
    model.set_active_adapters(Stack(lang_adapter_name, adapter_name) if lang_adapter_name else adapter_name)
    return adapter_name, lang_adapter_name
