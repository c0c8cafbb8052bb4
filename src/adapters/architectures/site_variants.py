"""The few pre-LN site variants some families need, as small pure functions over a :class:`BottleneckSite`.

A pre-LN site's hook turns the sub-block output ``h`` into ``h'`` so that the model's own ``residual + h'`` is the
adapter's result. Four fields of the site adjust what the adapter sees and what the hook returns (no model code is
copied; each is a property of the family's layer that the spec states as data):

* ``output_scale`` (BEiT's ``lambda_1``/``lambda_2``, Granite's ``residual_multiplier``): the model adds
  ``scale * h'``; the adapter works on ``scale * h`` and the hook returns its result divided by the scale.
* ``inner_norm`` (Gemma 2/3, the reference's interface ``layer_ln_1``/``layer_ln_2``): the adapter's input is
  ``norm(h + residual)``; the model still applies the norm afterwards.
* ``residual_extra`` (GPT-J's parallel block): the FFN adapter's residual is the layer input plus the (adapted)
  attention output, as in the reference, although the model adds both to the input at once.
* ``has_residual=False`` (Phi's FFN in the reference's interface): there is no residual of its own; the adapter sees
  ``h`` alone.
"""

from __future__ import annotations

import torch
from torch import nn

from .attach import resolve_path
from .spec import BottleneckSite

__all__ = ["scale_of", "adapter_inputs", "norm_of", "unscale"]


def scale_of(site: BottleneckSite, layer: nn.Module):
    """The factor the model applies to ``h`` at this site (``None``: none)."""
    return None if site.output_scale is None else getattr(layer, site.output_scale, None)


def adapter_inputs(site: BottleneckSite, h: torch.Tensor, residual, extra, scale) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, residual)`` as the adapter sees them at a pre-LN site."""
    if scale is not None:
        h = h * scale
    if not site.has_residual:
        residual = torch.zeros_like(h)
    elif extra is not None:
        residual = residual + extra
    return h, residual


def norm_of(site: BottleneckSite, layer: nn.Module):
    """The ``forward`` of the site's inner norm (called without hooks), or ``None``."""
    return None if site.inner_norm is None else resolve_path(layer, site.inner_norm)[0].forward


def unscale(new_h: torch.Tensor, scale) -> torch.Tensor:
    """What the hook returns so that the model's ``residual + scale * result`` is the adapter's output (the
    adapter's result is computed with the residual :func:`adapter_inputs` gave it: with ``residual_extra`` the model
    adds that extra part itself, with ``has_residual=False`` there is nothing to add)."""
    return new_h if scale is None else new_h / scale
