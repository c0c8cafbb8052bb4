"""What each compared library is asked to do, through the public API its users call: this library or the reference
AdapterHub ``adapters`` 1.3.0 (same API), or HuggingFace PEFT (the workloads it has an equivalent of)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import transformers
from bench_models import sharing_copy
from transformers import BertModel

__all__ = ["Library", "AdaptersLibrary", "PeftLibrary", "library", "channel_names", "CHANNELS"]

CHANNELS = 4  # adapters in the Parallel / BatchSplit workloads


class Library:
    """What a workload asks of a library; ``None`` from a method means the library has no equivalent."""

    name = "?"

    def adapted(self, bare: torch.nn.Module, method: str | None, clone: bool = False) -> torch.nn.Module | None:
        """A model sharing ``bare``'s weights with adapter ``method`` added and active (``None``: added, inactive)."""
        raise NotImplementedError

    def trainable(self, bare: torch.nn.Module, method: str) -> torch.nn.Module | None:
        raise NotImplementedError


class AdaptersLibrary(Library):
    """This library or the reference ``adapters`` 1.3.0 (same public API)."""

    CONFIGS = {"lora_merged": "lora"}

    def __init__(self):
        import adapters

        self.adapters = adapters
        self.name = f"adapters {adapters.__version__} (transformers {transformers.__version__})"

    def init(self, model: torch.nn.Module) -> torch.nn.Module:
        self.adapters.init(model)  # the reference's init returns None
        return model

    def adapted(self, bare, method, clone=False):
        model = self.init(sharing_copy(bare, clone=clone or method == "lora_merged"))
        model.add_adapter("a", config=self.CONFIGS.get(method or "seq_bn", method or "seq_bn"))
        if method is not None:
            model.set_active_adapters("a")
        if method == "lora_merged":
            model.merge_adapter("a")
        return model.eval()

    def trainable(self, bare, method):
        model = self.init(sharing_copy(bare))
        model.add_adapter("a", config=method)
        model.train_adapter("a")
        return model

    # composition with heads -----------------------------------------------------------------------------------
    def heads_model(self, bare: torch.nn.Module) -> torch.nn.Module:
        model = sharing_copy(bare, self.adapters.BertAdapterModel)
        torch.manual_seed(2)
        for name in channel_names():
            model.add_adapter(name, config="seq_bn")
            model.add_classification_head(name, num_labels=2)
        return model.eval()

    def parallel(self, model, names):
        return lambda: model.set_active_adapters(self.adapters.Parallel(*names))

    def batch_split(self, model, names, sizes):
        return lambda: model.set_active_adapters(self.adapters.BatchSplit(*names, batch_sizes=sizes))

    def single(self, model, name):
        return lambda: model.set_active_adapters(name)

    # files and switching ---------------------------------------------------------------------------------------
    def saved_adapter(self, bare, folder: str) -> Callable[[torch.nn.Module], Callable[[], object]]:
        model = self.adapted(bare, "seq_bn")
        model.save_adapter(folder, "a")

        def loader(target):
            def run():
                name = target.load_adapter(folder, load_as="loaded")
                target.delete_adapter(name)

            return run

        return loader

    def loading_target(self, bare):
        return self.init(sharing_copy(bare))

    def switcher(self, bare):
        model = self.init(sharing_copy(bare))
        model.add_adapter("a", config="seq_bn")
        model.add_adapter("b", config="seq_bn")
        return lambda name: model.set_active_adapters(name)

    def auto_from_pretrained(self, folder: str):
        return lambda: self.adapters.AutoAdapterModel.from_pretrained(folder)

    def demo_model(self, path: str, full: bool) -> torch.nn.Module:
        model = transformers.BertForSequenceClassification.from_pretrained(path, num_labels=2)
        if full:
            return model
        self.adapters.init(model)
        model.add_adapter("a", config="seq_bn")
        model.train_adapter("a")
        return model


class PeftLibrary(Library):
    """HuggingFace PEFT: LoRA and (IA)³ on the same modules as ours (q and v; k, v and the FFN's first layer)."""

    def __init__(self):
        import peft

        self.peft = peft
        self.name = f"peft {peft.__version__} (transformers {transformers.__version__})"

    def _config(self, bare, method: str):
        bert = isinstance(bare, BertModel)
        q, k, v, ffn = (
            ("query", "key", "value", "intermediate.dense") if bert else ("q_proj", "k_proj", "v_proj", "down_proj")
        )
        if method in ("lora", "lora_merged", None):
            return self.peft.LoraConfig(r=8, lora_alpha=8, target_modules=[q, v], lora_dropout=0.0)
        if method == "ia3":
            return self.peft.IA3Config(target_modules=[k, v, ffn], feedforward_modules=[])
        return None

    def adapted(self, bare, method, clone=False):
        config = self._config(bare, method)
        if config is None:
            return None
        model = self.peft.get_peft_model(sharing_copy(bare, clone=clone or method == "lora_merged"), config)
        if method == "lora_merged":
            model.merge_adapter()
        if method is None:  # nothing active: PEFT's equivalent is the disable_adapter() context
            inner = model

            class Disabled(torch.nn.Module):
                def forward(self, **kwargs):
                    with inner.disable_adapter():
                        return inner(**kwargs)

            return Disabled().eval()
        return model.eval()

    def trainable(self, bare, method):
        if method != "lora":
            return None
        return self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))

    def heads_model(self, bare):
        return None

    def saved_adapter(self, bare, folder):
        model = self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))
        model.save_pretrained(folder)

        def loader(target):
            def run():
                target.load_adapter(folder, adapter_name="loaded")
                target.delete_adapter("loaded")

            return run

        return loader

    def loading_target(self, bare):
        return self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"))

    def switcher(self, bare):
        model = self.peft.get_peft_model(sharing_copy(bare), self._config(bare, "lora"), adapter_name="a")
        model.add_adapter("b", self._config(bare, "lora"))
        return lambda name: model.set_adapter(name)

    def auto_from_pretrained(self, folder):
        return None

    def demo_model(self, path, full):
        return None


def library(kind: str) -> Library:
    return PeftLibrary() if kind == "peft" else AdaptersLibrary()


def channel_names() -> list[str]:
    return [f"task{i}" for i in range(CHANNELS)]
