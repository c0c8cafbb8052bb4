"""The models and batches of the benchmarks: BERT-base and a Llama-style decoder of similar size, copies that share
their weights (so every variant in one process computes on the same tensors), and the forward / training-step
runners that the workloads time. Standard library, torch and transformers only (runs in every compared
environment)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from transformers import BertConfig, BertModel, LlamaConfig, LlamaModel

__all__ = ["model_config", "bare_model", "sharing_copy", "batch", "forward_runner", "training_runner"]


def model_config(kind: str, layers: int):
    """BERT-base (12 layers, hidden 768) or a Llama-style decoder of similar size (hidden 768, intermediate 2048)."""
    if kind == "bert":
        return BertConfig(num_hidden_layers=layers)
    return LlamaConfig(
        hidden_size=768, intermediate_size=2048, num_hidden_layers=layers, num_attention_heads=12,
        num_key_value_heads=12, vocab_size=32000, max_position_embeddings=512,
    )  # fmt: skip


def bare_model(kind: str, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model_class = BertModel if kind == "bert" else LlamaModel
    return model_class(model_config(kind, layers))


def sharing_copy(model: torch.nn.Module, model_class=None, clone: bool = False) -> torch.nn.Module:
    """A new model of ``model_class`` (default: the same class) whose base model's weights and buffers are
    ``model``'s tensors (no copy; ``clone=True``: copies, for workloads that change the weights)."""
    with torch.device("meta"):
        new = (model_class or type(model))(copy.deepcopy(model.config))
    target = new.base_model
    state = {k: (v.clone() if clone else v) for k, v in model.state_dict().items()}
    target.load_state_dict(state, assign=True, strict=False)  # the reference's AdapterModel adds an alias key
    missing = [name for name, parameter in new.named_parameters() if parameter.is_meta]
    if missing:
        raise RuntimeError(f"weights not shared: {missing}")
    for name, buffer in list(target.named_buffers()):  # non-persistent buffers are not in the state dict
        if buffer.is_meta:
            owner_name, _, leaf = name.rpartition(".")
            owner = target.get_submodule(owner_name) if owner_name else target
            owner._buffers[leaf] = model.get_buffer(name)
    return new


def batch(kind: str, rows: int, length: int, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    vocab = 30522 if kind == "bert" else 32000
    ids = torch.randint(5, vocab, (rows, length), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def forward_runner(model: torch.nn.Module, inputs: dict, before: Callable[[], object] | None = None):
    def run():
        if before is not None:
            before()
        with torch.no_grad():
            model(**inputs)

    return run


def frozen_bound(bare: torch.nn.Module) -> torch.nn.Module:
    """The bare model, every weight frozen, with the embeddings' output requiring grad.

    Its training step is the least any method with trainable weights in the first layer can cost: a forward, and a
    backward that computes only input gradients through every layer (no weight gradients, no optimizer state).
    """
    model = sharing_copy(bare)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    model.get_input_embeddings().register_forward_hook(lambda module, args, output: output.requires_grad_())
    return model


def trained_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters that require grad (a dummy one when there are none: AdamW refuses an empty list)."""
    return [p for p in model.parameters() if p.requires_grad] or [torch.nn.Parameter(torch.zeros(1))]


def training_runner(model: torch.nn.Module, inputs: dict):
    """One training step: forward, a loss on the last hidden state, backward, AdamW on what requires grad."""
    optimizer = torch.optim.AdamW(trained_parameters(model), lr=1e-5)
    model.train()

    def run():
        output = model(**inputs)
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        hidden.float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return run
