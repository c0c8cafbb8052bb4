"""Parameterized hypercomplex multiplication (PHM) layers, the building block of Compacter.

Compacter (Mahabadi et al., 2021, https://arxiv.org/abs/2106.04647) replaces each adapter projection
``W ∈ R^{in×out}`` by a sum of Kronecker products ``W = Σ_i A_i ⊗ B_i`` with ``n = phm_dim`` "rule" matrices
``A_i ∈ R^{n×n}`` (shared by all layers of an adapter by default) and ``B_i ∈ R^{in/n × out/n}`` (low-rank
factorised as ``B_i = s_i t_iᵀ`` with ``phm_rank`` by default). ``y = x W + b``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import AdapterConfigError

__all__ = ["PHMLayer", "build_shared_phm_parameters", "kronecker_sum"]


def kronecker_sum(rule: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_i rule[i] ⊗ weights[i]`` for ``rule`` (n, p, q) and ``weights`` (n, r, s) → (p·r, q·s)."""
    n, p, q = rule.shape
    _, r, s = weights.shape
    outer = rule[:, :, None, :, None] * weights[:, None, :, None, :]
    return outer.reshape(n, p * r, q * s).sum(0)


def _init_factor(tensor: torch.Tensor, method: str, init_range: float) -> None:
    for i in range(tensor.shape[0]):
        if method == "glorot-normal":
            nn.init.xavier_normal_(tensor.data[i])
        elif method == "glorot-uniform":
            nn.init.xavier_uniform_(tensor.data[i])
        elif method == "normal":
            tensor.data[i].normal_(mean=0.0, std=init_range)
        else:
            raise AdapterConfigError(
                f"hypercomplex_nonlinearity={method!r} is not supported; allowed: 'glorot-normal', "
                "'glorot-uniform', 'normal'."
            )


def _init_rule(tensor: torch.Tensor, c_init: str, init_range: float) -> None:
    if c_init == "normal":
        tensor.data.normal_(mean=0.0, std=init_range)
    elif c_init == "uniform":
        tensor.data.uniform_(-1.0, 1.0)
    else:
        raise AdapterConfigError(f"phm_c_init={c_init!r} is not supported; allowed: 'normal', 'uniform'.")


def _new_param(*shape: int, requires_grad: bool = True) -> nn.Parameter:
    return nn.Parameter(torch.empty(*shape), requires_grad=requires_grad)


def _weight_factors(config, in_features: int, out_features: int) -> dict[str, nn.Parameter]:
    n = config.phm_dim
    if config.factorized_phm_W:
        left, right = (
            _new_param(n, in_features // n, config.phm_rank),
            _new_param(n, config.phm_rank, out_features // n),
        )
        _init_factor(left, config.hypercomplex_nonlinearity, config.phm_init_range)
        _init_factor(right, config.hypercomplex_nonlinearity, config.phm_init_range)
        return {"left": left, "right": right}
    weight = _new_param(n, in_features // n, out_features // n)
    _init_factor(weight, config.hypercomplex_nonlinearity, config.phm_init_range)
    return {"": weight}


def _rule_factors(config) -> dict[str, nn.Parameter]:
    n = config.phm_dim
    if config.factorized_phm_rule:
        left = _new_param(n, n, 1, requires_grad=config.learn_phm)
        right = _new_param(n, 1, n, requires_grad=config.learn_phm)
        _init_rule(left, config.phm_c_init, config.phm_init_range)
        _init_rule(right, config.phm_c_init, config.phm_init_range)
        return {"phm_rule_left": left, "phm_rule_right": right}
    rule = _new_param(n, n, n, requires_grad=config.learn_phm)
    _init_rule(rule, config.phm_c_init, config.phm_init_range)
    return {"phm_rule": rule}


def check_phm_sizes(config, sizes: tuple[int, ...]) -> None:
    """Raise :class:`AdapterConfigError` unless every feature size is divisible by ``phm_dim``."""
    bad = [s for s in sizes if s % config.phm_dim != 0]
    if bad:
        raise AdapterConfigError(
            f"PHM layers need feature sizes divisible by phm_dim={config.phm_dim}, got sizes {list(sizes)} "
            f"(bad: {bad}). Choose a reduction_factor that keeps the bottleneck size a multiple of phm_dim."
        )


def build_shared_phm_parameters(config, hidden_size: int, down_size: int) -> nn.ParameterDict:
    """The parameters shared by all PHM layers of one adapter (``shared_parameters.<name>``)."""
    shared = nn.ParameterDict()
    if config.shared_W_phm:
        for position, (fan_in, fan_out) in {"down": (hidden_size, down_size), "up": (down_size, hidden_size)}.items():
            for suffix, param in _weight_factors(config, fan_in, fan_out).items():
                shared[f"W_{position}_{suffix}" if suffix else f"W_{position}"] = param
    if config.shared_phm_rule:
        shared.update(_rule_factors(config))
    return shared


class PHMLayer(nn.Module):
    """A linear layer ``in_features → out_features`` whose weight is a sum of Kronecker products.

    Args:
        in_features: input size (divisible by ``phm_dim``).
        out_features: output size (divisible by ``phm_dim``).
        position: ``"down"`` or ``"up"``, which shared weight to use when ``shared_W_phm``.
        config: the adapter's bottleneck config (PHM fields).
        shared: the adapter's shared parameters (see :func:`build_shared_phm_parameters`).
    """

    def __init__(self, in_features: int, out_features: int, position: str, config, shared: nn.ParameterDict | None):
        super().__init__()
        check_phm_sizes(config, (in_features, out_features))
        self.in_features, self.out_features, self.position = in_features, out_features, position
        self.factorized_phm_W, self.factorized_phm_rule = config.factorized_phm_W, config.factorized_phm_rule
        self.shared_W_phm, self.shared_phm_rule = config.shared_W_phm, config.shared_phm_rule
        self.__dict__["_shared"] = shared
        if not config.shared_phm_rule:
            for key, param in _rule_factors(config).items():
                self.register_parameter(key, param)
        if not config.shared_W_phm:
            for suffix, param in _weight_factors(config, in_features, out_features).items():
                self.register_parameter(f"W_{suffix}" if suffix else "W", param)
        self.b = nn.Parameter(torch.zeros(out_features)) if config.phm_bias else None

    def _source(self, shared: bool) -> dict[str, torch.Tensor]:
        return self.__dict__["_shared"] if shared else dict(self.named_parameters(recurse=False))

    def rule(self) -> torch.Tensor:
        params = self._source(self.shared_phm_rule)
        if self.factorized_phm_rule:
            return torch.bmm(params["phm_rule_left"], params["phm_rule_right"])
        return params["phm_rule"]

    def weight_factors(self) -> torch.Tensor:
        params = self._source(self.shared_W_phm)
        prefix = f"W_{self.position}" if self.shared_W_phm else "W"
        if self.factorized_phm_W:
            return torch.bmm(params[f"{prefix}_left"], params[f"{prefix}_right"])
        return params[prefix]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(x, kronecker_sum(self.rule(), self.weight_factors()))
        return y + self.b if self.b is not None else y
