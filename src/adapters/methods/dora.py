"""DoRA: weight-decomposed low-rank adaptation (Liu et al., 2024, https://arxiv.org/abs/2402.09353).

A LoRA (or VeRA: DVoRA) update with ``use_dora=True`` also learns a magnitude per output unit, ``m`` (the
reference's ``m.weight`` of shape ``(out, 1)``, initialised to the row norms of the base weight ``W``). The adapted
layer computes, as the reference does::

    y = m / ‖W + ΔW‖_row ⊙ (W x + b + s · ΔW x)

with ``ΔW`` the unscaled update (``B A``) in the norm and ``s = alpha / r`` on the update itself. At initialisation
``ΔW = 0`` and ``m = ‖W‖``, so the layer is unchanged. Merging folds the same function into ``W`` and ``b``
(:func:`merged_rows`), so merged and unmerged outputs agree; the reference's merge leaves the bias unscaled and its
reset does not restore ``W``.

With ``dora_unscaled_bias=True`` (PEFT's DoRA) the bias is added after the scaling::

    y = m / ‖W + ΔW‖_row ⊙ (W x + s · ΔW x) + b

computed from the layer output ``W x + b`` as ``f ⊙ (W x + b + s · ΔW x) + (1 − f) ⊙ b`` with ``f = m / ‖W + ΔW‖``.
"""

from __future__ import annotations

import torch

__all__ = ["row_norms", "apply_magnitude", "merged_rows"]


def row_norms(weight_rows: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """``‖W + ΔW‖`` per output unit (row) for ``(out, in)`` tensors."""
    return torch.linalg.norm(weight_rows.to(delta.dtype) + delta, dim=1)


def apply_magnitude(
    output: torch.Tensor,
    hidden: torch.Tensor,
    magnitude: torch.Tensor,
    norm: torch.Tensor,
    unscaled_bias: torch.Tensor | None = None,
):
    """``m / ‖W + ΔW‖ ⊙ (output + hidden)`` for a layer output chunk of ``len(magnitude)`` units; with
    ``unscaled_bias`` (the chunk's bias rows) that bias is kept out of the scaling (``+ (1 − f) ⊙ b``)."""
    factor = (magnitude.view(-1) / norm).to(output.dtype)
    result = factor * (output + hidden.to(output.dtype))
    if unscaled_bias is not None:
        result = result + (1 - factor) * unscaled_bias.to(output.dtype)
    return result


def merged_rows(
    weight_rows: torch.Tensor,
    bias_rows: torch.Tensor | None,
    delta: torch.Tensor,
    scaling: float,
    magnitude: torch.Tensor,
    unscaled_bias: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight and bias rows that make a plain linear layer compute the DoRA output (float32 tensors); with
    ``unscaled_bias`` the bias stays as it is."""
    factor = magnitude.view(-1) / torch.linalg.norm(weight_rows + delta, dim=1)
    rows = factor[:, None] * (weight_rows + scaling * delta)
    if bias_rows is None or unscaled_bias:
        return rows, bias_rows
    return rows, factor * bias_rows
