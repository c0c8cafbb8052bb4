"""``torch.compile``: adapter-enabled models compile with ``fullgraph=True`` and no graph break, give the eager
results, and never run a stale graph after the setup, the weights or the adapters change.

The ``aot_eager`` backend traces exactly what inductor would get (dynamo + AOT autograd) without generating C++
code, which keeps these tests fast; speed under inductor is measured in ``benchmarks/``.
"""

from __future__ import annotations

import pytest
import torch

from adapters import AdapterSetup, AutoAdapterModel, Fuse
from contract.helpers import adapter_model, randomize_adapter
from tiny_models import config, inputs

CASES = {
    "seq_bn": "seq_bn[reduction_factor=4]",
    "par_bn": "par_bn[reduction_factor=4]",
    "lora": "lora[r=4, alpha=8]",
    "lora_merged": "lora[r=4, alpha=8]",
    "ia3": "ia3",
    "prefix_tuning": "prefix_tuning[prefix_length=3, bottleneck_size=8]",
    "prompt_tuning": "prompt_tuning[prompt_length=3]",
}
FAMILIES = ("bert", "llama")


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


class CountingBackend:
    """A backend that runs the captured graph as is and counts how often dynamo compiled something."""

    def __init__(self):
        self.compiles = 0

    def __call__(self, graph_module, example_inputs):
        self.compiles += 1
        return graph_module.forward


def _model(family: str, case: str, name: str = "a", seed: int = 123, flexible: bool = False):
    model = adapter_model(family) if not flexible else _flexible_model(family)
    model.add_adapter(name, config=CASES[case])
    randomize_adapter(model, name, seed=seed)
    model.set_active_adapters(name)
    if case == "lora_merged":
        model.merge_adapter(name)
    return model


def _hidden(model, batch, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        return model(**batch, **kwargs).last_hidden_state


def _flexible_model(family: str):
    torch.manual_seed(0)
    return AutoAdapterModel.from_config(config(family)).eval()


@pytest.mark.parametrize("flexible", [False, True], ids=["base-model", "adapter-model"])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", CASES)
def test_inference_compiles_without_graph_breaks_and_equals_eager(family, case, flexible):
    model = _model(family, case, flexible=flexible)
    batch = inputs(family)
    with torch.no_grad():
        explanation = torch._dynamo.explain(model)(**batch)
    if case == "prompt_tuning" and not flexible:
        # torch runs the forward hooks of the module it is given as frames of their own; prompt tuning's rewrite of
        # a bare base model's inputs (the mask grows by the prompt) is one, so explain counts its graph apart from
        # the forward's (graph_break_count 1, no break reason). Compiling the top frame with its hooks (torch's
        # wrap_top_frame) gives one graph: nothing of ours breaks it.
        assert explanation.graph_count == 2 and not explanation.break_reasons, explanation
        with torch.no_grad(), torch._dynamo.config.patch(wrap_top_frame=True):
            explanation = torch._dynamo.explain(model)(**batch)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1, explanation
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", ["seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "prompt_tuning"])
def test_training_step_compiles_with_fullgraph_and_gives_eager_gradients(family, case):
    def step(model):
        model.train_adapter("a")
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        runner = torch.compile(model, fullgraph=True, backend="aot_eager") if model is compiled_model else model
        runner(**inputs(family)).last_hidden_state.pow(2).mean().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    eager_model, compiled_model = _model(family, case), _model(family, case)
    expected, actual = step(eager_model), step(compiled_model)
    assert expected.keys() == actual.keys() and expected
    for name, grad in expected.items():
        torch.testing.assert_close(actual[name], grad, atol=1e-5, rtol=1e-4, msg=name)


def test_changes_after_compiling_give_the_new_result():
    model = _model("bert", "seq_bn")
    model.add_adapter("b", config="lora[r=4, alpha=8]")
    randomize_adapter(model, "b", seed=7)
    batch = inputs("bert")
    backend = CountingBackend()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # another active setup
    model.set_active_adapters("b")
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # an AdapterSetup block
    with AdapterSetup("a"):
        torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # new weights of the active adapter
    with torch.no_grad():
        for _, param in model._adapter_parameters("b"):
            param.mul_(2.0)
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # the adapter replaced by one of the same name, method and setup with hooks at more places (dynamo does not
    # guard on hooks: the model's structure version does)
    model.delete_adapter("b")
    model.add_adapter("b", config="lora[r=4, alpha=8, attn_matrices=['q', 'k', 'v']]")
    randomize_adapter(model, "b", seed=8)
    model.set_active_adapters("b")
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # the adapter replaced by another one of the same name (new hooks at other places)
    model.delete_adapter("b")
    model.add_adapter("b", config="prefix_tuning[prefix_length=2, bottleneck_size=8]")
    randomize_adapter(model, "b", seed=9)
    model.set_active_adapters("b")
    torch.testing.assert_close(_hidden(compiled, batch), _hidden(model, batch))
    # switching back to a setup seen before reuses its graph
    compiles = backend.compiles
    model.set_active_adapters("a")
    model.set_active_adapters("b")
    _hidden(compiled, batch)
    assert backend.compiles == compiles


def test_fusion_temperature_training_does_not_recompile_every_step():
    model = adapter_model("bert")
    for name in ("x", "y"):
        model.add_adapter(name, config="seq_bn[reduction_factor=4]")
    model.add_adapter_fusion(["x", "y"], config="dynamic[temperature=True]")
    model.train_adapter_fusion(Fuse("x", "y"))
    backend = CountingBackend()
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    batch = inputs("bert")
    for _ in range(4):
        compiled(**batch).last_hidden_state.pow(2).mean().backward()
    assert backend.compiles == 1
    fusion = next(m for n, m in model.named_modules() if n.endswith("adapter_fusion_layer.x,y"))
    assert int(fusion.training_steps) == 4
    assert float(fusion.temperature()) == pytest.approx(50.0 - 4 * 0.05)
