"""PHM (Compacter) layers and invertible adapters: closed-form checks."""

from __future__ import annotations

import pytest
import torch

from adapters.configuration import CompacterConfig, SeqBnInvConfig
from adapters.errors import AdapterConfigError
from adapters.methods.invertible import GLOWCouplingBlock, NICECouplingBlock, build_invertible_adapter
from adapters.methods.phm import PHMLayer, build_shared_phm_parameters, kronecker_sum


def test_kronecker_sum_equals_torch_kron():
    rule, weights = torch.randn(4, 4, 4), torch.randn(4, 3, 5)
    expected = sum(torch.kron(rule[i], weights[i]) for i in range(4))
    torch.testing.assert_close(kronecker_sum(rule, weights), expected)


def test_phm_layer_is_a_linear_map_with_the_kronecker_weight():
    config = CompacterConfig(reduction_factor=4)
    shared = build_shared_phm_parameters(config, 32, 8)
    layer = PHMLayer(32, 8, "down", config, shared)
    x = torch.randn(2, 3, 32)
    weight = kronecker_sum(shared["phm_rule"], torch.bmm(layer.W_left, layer.W_right))
    torch.testing.assert_close(layer(x), x @ weight + layer.b)
    assert set(dict(layer.named_parameters())) == {"W_left", "W_right", "b"}


def test_phm_sizes_must_divide_phm_dim():
    with pytest.raises(AdapterConfigError, match="divisible by phm_dim=4"):
        PHMLayer(32, 6, "down", CompacterConfig(), None)


@pytest.mark.parametrize("block", [NICECouplingBlock(32), GLOWCouplingBlock(32), NICECouplingBlock(33)])
def test_coupling_blocks_are_invertible(block):
    hidden = block.split_len1 + block.split_len2
    x = torch.randn(2, 7, hidden)
    for param in block.parameters():
        torch.nn.init.normal_(param, std=0.3)
    y = block(x)
    assert not torch.allclose(y, x)
    torch.testing.assert_close(block(y, rev=True), x, atol=1e-5, rtol=1e-5)


def test_unknown_invertible_type_is_rejected_by_the_config():
    with pytest.raises(AdapterConfigError, match="inv_adapter: expected one of 'nice', 'glow'"):
        build_invertible_adapter(SeqBnInvConfig(inv_adapter="real_nvp"), 32)
