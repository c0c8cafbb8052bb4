"""average_adapter: linear for every method, LoRA's negate-B and delta-W SVD strategies, and their checks."""

from __future__ import annotations

import pytest
import torch

from adapters.errors import AdapterConfigError, AdapterExistsError, UnsupportedMethodError
from adapters.io.keys import adapter_state_dict
from adapters.methods.lora import LoRALayer
from contract.helpers import adapter_model, randomize_adapter


def _params(model, name: str) -> dict[str, torch.Tensor]:
    """Adapter ``name``'s state with the name segment removed, so adapters can be compared key by key."""
    return {k.replace(f".{name}.", ".*."): v for k, v in adapter_state_dict(model, name).items()}


def _two(family: str, spec: str):
    model = adapter_model(family)
    for seed, name in enumerate(("a", "b")):
        model.add_adapter(name, config=spec)
        randomize_adapter(model, name, seed=seed)
    return model


@pytest.mark.parametrize(
    "spec", ["lora[intermediate_lora=True]", "ia3", "dora", "vera", "dvora", "mtl_lora", "seq_bn", "double_seq_bn_inv"]
)
@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_linear_average_is_the_weighted_sum_of_parameters(spec, family):
    model = _two(family, spec)
    model.average_adapter("avg", ["a", "b"], weights=[0.7, -0.3], normalize_weights=False)
    a, b, avg = _params(model, "a"), _params(model, "b"), _params(model, "avg")
    assert avg.keys() == a.keys() and avg
    for key, value in avg.items():
        torch.testing.assert_close(value, 0.7 * a[key] - 0.3 * b[key], atol=1e-6, rtol=0, msg=key)
    assert model.adapters_config.get("avg") == model.adapters_config.get("a")


def test_weights_are_normalized_by_default_and_equal_without_weights():
    model = _two("bert", "lora")
    model.average_adapter("norm", ["a", "b"], weights=[3.0, 1.0])
    model.average_adapter("equal", {"a": 1.0, "b": 1.0})
    a, b = _params(model, "a"), _params(model, "b")
    for key, value in _params(model, "norm").items():
        torch.testing.assert_close(value, 0.75 * a[key] + 0.25 * b[key])
    for key, value in _params(model, "equal").items():
        torch.testing.assert_close(value, 0.5 * a[key] + 0.5 * b[key])


def test_negate_b_takes_absolute_weights_for_a():
    model = _two("bert", "lora")
    model.average_adapter("avg", ["a", "b"], weights=[1.0, -0.5], normalize_weights=False,
                          combine_strategy="lora_linear_only_negate_b")  # fmt: skip
    a, b = _params(model, "a"), _params(model, "b")
    for key, value in _params(model, "avg").items():
        weight_b = 0.5 if key.endswith("lora_A") else -0.5
        torch.testing.assert_close(value, a[key] + weight_b * b[key], msg=key)


def _deltas(model, name: str) -> dict[str, torch.Tensor]:
    """The effective update ``s · ΔW`` of adapter ``name`` at every adapted layer."""
    return {
        f"{layer.location_key}@{layer.layer_idx}@{id(layer)}": layer[name].scaling
        * layer[name].delta_weight().detach()
        for layer in model.modules()
        if isinstance(layer, LoRALayer) and name in layer
    }


@pytest.mark.parametrize("family", ["bert", "gpt2", "llama"])
def test_svd_with_enough_rank_reproduces_the_averaged_update(family):
    model = adapter_model(family)
    for seed, (name, spec) in enumerate([("a", "lora[r=4, alpha=8]"), ("b", "lora[r=4, alpha=8]")]):
        model.add_adapter(name, config=f"{spec[:-1]}, intermediate_lora=True]")
        randomize_adapter(model, name, seed=seed)
    model.average_adapter("svd", ["a", "b"], weights=[0.6, -0.4], normalize_weights=False,
                          combine_strategy="lora_delta_w_svd", svd_rank=8)  # fmt: skip
    assert model.adapters_config.get("svd").r == 8
    a, b, svd = _deltas(model, "a"), _deltas(model, "b"), _deltas(model, "svd")
    worst = max(float((svd[k] - (0.6 * a[k] - 0.4 * b[k])).abs().max()) for k in svd)
    assert worst < 1e-5


def test_svd_with_low_rank_gives_the_best_approximation():
    model = _two("bert", "lora[r=4]")
    model.average_adapter("svd", ["a", "b"], combine_strategy="lora_delta_w_svd", svd_rank=2)
    layer = next(m for m in model.modules() if isinstance(m, LoRALayer))
    target = 0.5 * (layer["a"].scaling * layer["a"].delta_weight() + layer["b"].scaling * layer["b"].delta_weight())
    singular = torch.linalg.svdvals(target)
    error = torch.linalg.matrix_norm(layer["svd"].scaling * layer["svd"].delta_weight() - target, ord=2)
    torch.testing.assert_close(error, singular[2], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "message"),
    [
        ("lora", {"combine_strategy": "nope"}, AdapterConfigError, "Unknown combine_strategy"),
        ("lora", {"combine_strategy": "lora_delta_w_svd"}, AdapterConfigError, "needs svd_rank"),
        ("vera", {"combine_strategy": "lora_linear_only_negate_b"}, UnsupportedMethodError, "use 'linear'"),
        ("dora", {"combine_strategy": "lora_delta_w_svd", "svd_rank": 4}, UnsupportedMethodError, "plain LoRA"),
        ("seq_bn", {"combine_strategy": "lora_delta_w_svd", "svd_rank": 4}, UnsupportedMethodError, "bottleneck"),
        ("lora", {"weights": [1.0, -1.0]}, AdapterConfigError, "sum to 0"),
        ("lora", {"weights": [1.0]}, AdapterConfigError, "1 weights for 2 adapters"),
    ],
)
def test_invalid_averaging_raises_and_adds_nothing(spec, kwargs, error, message):
    model = _two("bert", spec)
    keys = list(model.state_dict())
    with pytest.raises(error, match=message):
        model.average_adapter("avg", ["a", "b"], **kwargs)
    assert "avg" not in model.adapters_config and list(model.state_dict()) == keys


def test_inputs_must_share_a_config_and_the_name_must_be_free():
    model = adapter_model("bert")
    model.add_adapter("a", config="lora")
    model.add_adapter("b", config="lora[r=4]")
    model.add_adapter("c", config="lora[dropout=0.1, init_weights='bert']")  # may differ in these two
    with pytest.raises(AdapterConfigError, match="different configurations"):
        model.average_adapter("avg", ["a", "b"])
    model.average_adapter("avg", ["a", "c"], set_active=True)
    assert model.active_adapters.first() == "avg"
    with pytest.raises(AdapterExistsError, match="overwrite_ok"):
        model.average_adapter("avg", ["a", "c"])
    model.average_adapter("avg", ["a", "c"], weights=[1.0, 0.0], overwrite_ok=True)
    assert all(torch.equal(v, _params(model, "a")[k]) for k, v in _params(model, "avg").items())
