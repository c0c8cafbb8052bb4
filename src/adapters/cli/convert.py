"""``adapters convert SRC DST --to peft|adapters``: convert a saved adapter between this library's and PEFT's format.

The conversion needs the base model's module layout, so the base model is loaded (weights included) from
``--base-model`` (default: the ``model_name``/``base_model_name_or_path`` saved with the adapter), as
``--model-class`` (a transformers class name; default: the class the adapter was saved from if transformers has it,
else ``AutoModel``). PEFT keys follow that class's module paths, so pick the class PEFT will wrap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "convert a saved adapter to PEFT's format (--to peft) or a PEFT LoRA/DoRA/(IA)3 checkpoint to ours"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="folder of the saved adapter (ours for --to peft, PEFT's for --to adapters)")
    parser.add_argument("target", help="folder to write")
    parser.add_argument("--to", required=True, choices=("peft", "adapters"), help="format to write")
    parser.add_argument("--base-model", help="base model folder or Hub id (default: the one saved with the adapter)")
    parser.add_argument("--model-class", help="transformers class to load the base model as (e.g. LlamaForCausalLM)")
    parser.add_argument("--name", help="adapter name in the written folder (--to adapters; default: the folder name)")


def _saved_base(source: Path) -> tuple[str | None, str | None]:
    """``(base model, model class)`` recorded in the adapter folder, if any."""
    config_file = source / "adapter_config.json"
    if not config_file.is_file():
        return None, None
    data = json.loads(config_file.read_text(encoding="utf-8"))
    return data.get("model_name") or data.get("base_model_name_or_path"), data.get("model_class")


def _load_base(name: str, class_name: str | None):
    import transformers

    import adapters

    model_class = getattr(transformers, class_name, None) if class_name else None
    if class_name and model_class is None:
        raise ValueError(f"transformers has no class {class_name!r}")
    model = (model_class or transformers.AutoModel).from_pretrained(name)
    adapters.init(model)
    return model


def _without_head(method) -> dict:
    """``with_head=False`` for models whose save/load methods take it: only the adapter is converted."""
    import inspect

    return {"with_head": False} if "with_head" in inspect.signature(method).parameters else {}


def run(args: argparse.Namespace) -> int:
    import transformers

    from ..errors import AdapterError
    from ..io.peft_export import export_to_peft

    source, target = Path(args.source), Path(args.target)
    saved_base, saved_class = _saved_base(source)
    base = args.base_model or saved_base
    if not base:
        print(f"error: {source} records no base model; pass --base-model", file=sys.stderr)
        return 3
    class_name = args.model_class or (saved_class if hasattr(transformers, str(saved_class)) else None)
    try:
        model = _load_base(base, class_name)
    except Exception as error:  # any loading failure of transformers
        print(f"error: cannot load the base model {base!r}: {type(error).__name__}: {error}", file=sys.stderr)
        return 4
    try:
        if args.to == "peft":
            name = model.load_adapter(str(source), **_without_head(model.load_adapter))
            export_to_peft(model, name, target)
        else:
            name = model.load_adapter(str(source), load_as=args.name)
            model.save_adapter(str(target), name, **_without_head(model.save_adapter))
    except (AdapterError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(f"wrote {target} ({args.to} format, adapter {name!r})")
    return 0
