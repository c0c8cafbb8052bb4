"""``adapter_summary``: the reference's table of adapters with parameter counts."""

from __future__ import annotations

from typing import Any

__all__ = ["adapter_summary"]

_HEADER = ("name", "architecture", "#param", "%param", "active", "train")
_WIDTH = 80


def _rows(model) -> list[dict[str, Any]]:
    active = model.active_adapters
    rows, total = [], 0
    for name in model.adapters_config.adapters:
        config = model.adapters_config.get(name)
        params = [p for _, p in model._adapter_parameters(name)]
        count = sum(p.numel() for p in params)
        total += count
        rows.append(
            {
                "name": name,
                "architecture": getattr(config, "architecture", None) or "bottleneck",
                "#param": count,
                "active": active is not None and name in active.flatten(),
                "train": all(p.requires_grad for p in params),
            }
        )
    base_count = sum(p.numel() for p in model.base_model.parameters()) - total
    for row in rows:
        row["%param"] = row["#param"] / base_count * 100
    rows.append(
        {
            "name": "Full model",
            "#param": base_count,
            "%param": 100.0,
            "train": not getattr(model.base_model, "model_frozen", False),
        }
    )
    return rows


def adapter_summary(model, as_dict: bool = False) -> str | list[dict[str, Any]]:
    """Rows ``name, architecture, #param, %param, active, train`` plus a final "Full model" row."""
    rows = _rows(model)
    if as_dict:
        return rows
    header_format = "{:<25}{:<15}{:>12}{:>12}{:>8}{:>8}"
    row_format = "{:<25}{:<15}{:>12,}{:>12.3f}{:>8}{:>8}"
    lines = ["=" * _WIDTH, header_format.format(*(h.title() for h in _HEADER)), "-" * _WIDTH]
    lines += [row_format.format(*(row.get(h, "") for h in _HEADER)) for row in rows]
    lines.insert(len(lines) - 1, "-" * _WIDTH)
    lines.append("=" * _WIDTH)
    return "\n".join(lines)
