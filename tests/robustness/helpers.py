"""Checks shared by the robustness tests: a failed operation raises our error type (which is also the built-in a
caller would catch), its message names the bad value and what is allowed, and the model is exactly as before."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from adapters import AdapterError, Fuse
from contract.helpers import adapter_model, all_hooks


def model_with_adapters():
    """A tiny BERT with bottleneck adapters ``a`` and ``b``, LoRA adapter ``lo``, fusion ``a,b``; ``a`` active."""
    model = adapter_model("bert")
    for name, config in (("a", "seq_bn"), ("b", "seq_bn"), ("lo", "lora")):
        model.add_adapter(name, config=config)
    model.add_adapter_fusion(Fuse("a", "b"))
    model.set_active_adapters("a")
    return model


@dataclass
class Snapshot:
    """Everything a failed operation must leave unchanged."""

    tensors: dict[str, torch.Tensor]
    summary: str
    active: Any
    adapters: tuple[str, ...]
    fusions: tuple[str, ...]
    heads: dict[str, Any]
    active_head: Any
    hooks: int

    @classmethod
    def of(cls, model) -> Snapshot:
        heads = getattr(model.config, "prediction_heads", None) or {}
        return cls(
            tensors={k: v.detach().clone() for k, v in model.state_dict().items()},
            summary=model.adapter_summary(),
            active=model.active_adapters,
            adapters=tuple(model.adapters_config.adapters),
            fusions=tuple(model.adapters_config.fusions),
            heads={k: dict(v) for k, v in heads.items()},
            active_head=getattr(model, "active_head", None) if hasattr(model, "heads") else None,
            hooks=all_hooks(model),
        )

    def assert_unchanged(self, model) -> None:
        after = Snapshot.of(model)
        assert list(after.tensors) == list(self.tensors), "state-dict keys changed"
        changed = [k for k, v in self.tensors.items() if not torch.equal(v, after.tensors[k])]
        assert not changed, f"tensors changed: {changed[:5]}"
        assert after.summary == self.summary
        assert after.active == self.active
        assert (after.adapters, after.fusions, after.heads) == (self.adapters, self.fusions, self.heads)
        assert (after.active_head, after.hooks) == (self.active_head, self.hooks)


def assert_refused(
    model, action: Callable[[], Any], error: type[AdapterError], builtin: type[Exception], *fragments: str
) -> AdapterError:
    """Run ``action`` on ``model``: it must raise ``error`` (also a ``builtin``) whose message contains every one of
    ``fragments`` (the bad value and what is allowed), and leave ``model`` exactly as it was."""
    assert issubclass(error, builtin), f"{error.__name__} must subclass {builtin.__name__}"
    before = Snapshot.of(model)
    with pytest.raises(builtin) as caught:
        action()
    assert type(caught.value) is error, f"raised {type(caught.value).__name__}: {caught.value}"
    message = str(caught.value)
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not in message: {message}"
    before.assert_unchanged(model)
    return caught.value


@contextmanager
def python_child(script: str) -> Iterator[subprocess.Popen]:
    """Run ``script`` in a Python child process (offline, stdout piped as text); the child is gone when
    the block exits."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        child.stdout.close()


def sigkill(child: subprocess.Popen) -> None:
    """Kill ``child`` with SIGKILL and check that this is how it ended."""
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
