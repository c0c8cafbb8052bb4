"""The targets of every benchmark workload (issue 14) and how a figure is judged against them.

A target is an upper bound (``value <= bound`` passes). Workloads without a bound (absolute times of the bare model,
the demo's throughput, which is compared with the reference by ``compare.py``) are reported as information.
"""

from __future__ import annotations

__all__ = ["TARGETS", "MINIMUMS", "DESCRIPTIONS", "verdict", "describe", "bound_text"]

TARGETS: dict[str, float] = {
    "inference/inactive": 1.01,
    "inference/seq_bn": 1.03,
    "inference/double_seq_bn": 1.06,
    "inference/par_bn": 1.04,
    "inference/compacter": 1.08,
    "inference/lora": 1.04,
    "inference/lora_merged": 1.01,
    "inference/ia3": 1.02,
    "inference/prefix_tuning": 1.10,
    "inference/prompt_tuning": 1.10,
    "compiled/inactive": 1.01,
    "compiled/seq_bn": 1.03,
    "training/bert/seq_bn": 0.55,
    "training/bert/lora": 0.55,
    "training/llama/seq_bn": 0.55,
    "training/llama/lora": 0.55,
    "memory/bert/seq_bn": 0.55,
    "memory/bert/lora": 0.55,
    "memory/llama/seq_bn": 0.55,
    "memory/llama/lora": 0.55,
    "composition/parallel/serving": 0.55,
    "composition/parallel/8x128": 1.00,
    "composition/batch_split/serving": 0.55,
    "composition/batch_split/8x128": 1.00,
    "files/load_adapter_ms": 50.0,
    "files/switch_ms": 1.0,
    "files/from_pretrained": 1.10,
    "serving/p99_vs_one_at_a_time": 1.00,
}

# targets that are lower bounds (``value >= bound`` passes)
MINIMUMS: dict[str, float] = {"serving/throughput_vs_one_at_a_time": 3.0}

_MODEL = {"bert": "BERT-base", "llama": "Llama-style"}

DESCRIPTIONS: dict[str, str] = {
    "inference/inactive": "inference, adapter added but nothing active / bare",
    "inference/bare_ms": "inference, bare model, ms per forward (8 x 128)",
    "compiled/inactive": "torch.compile, nothing active / compiled bare",
    "compiled/seq_bn": "torch.compile, seq_bn / compiled bare",
    "compiled/bare_vs_eager": "torch.compile, bare model: compiled / eager",
    "compiled/inactive_vs_eager": "torch.compile, nothing active: compiled / eager",
    "compiled/seq_bn_vs_eager": "torch.compile, seq_bn: compiled / eager",
    "composition/parallel/serving": "Parallel of 4 with heads / 4 sequential passes, 1 x 32",
    "composition/parallel/8x128": "Parallel of 4 with heads / 4 sequential passes, 8 x 128",
    "composition/batch_split/serving": "BatchSplit of 4 single-row requests / 4 passes, 4 x (1 x 32)",
    "composition/batch_split/8x128": "BatchSplit 4 x 8 rows / 4 passes, 4 x (8 x 128)",
    "files/load_adapter_ms": "load_adapter of a seq_bn adapter into BERT-base, ms",
    "files/switch_ms": "switching the active adapter, ms",
    "files/from_pretrained": "AutoAdapterModel.from_pretrained / transformers' from_pretrained, BERT-base",
    "demo/examples_per_second": "demo training (MiniLM-L6, 32 x 64, seq_bn), examples/s",
    "demo/vs_full": "demo training step, seq_bn / full fine-tuning (MiniLM-L6)",
    "training/bert/floor": "training step, frozen bare model with gradients through every layer / full (BERT-base)",
    "training/llama/floor": "training step, frozen bare model with gradients through every layer / full (Llama)",
    "composition/floor/serving": "bare model, 4 rows in one batch / 4 single-row passes, 1 x 32",
    "serving/throughput_vs_one_at_a_time": "serve, 8 adapters mixed: batched / one-at-a-time throughput",
    "serving/p99_vs_one_at_a_time": "serve, 8 adapters mixed: batched / one-at-a-time p99 latency",
    "serving/throughput_vs_switching": "serve: batched / switching the active adapter per request, throughput",
    "serving/p99_vs_switching": "serve: batched / switching the active adapter per request, p99 latency",
}


def describe(key: str) -> str:
    """A human description of workload ``key``."""
    if key in DESCRIPTIONS:
        return DESCRIPTIONS[key]
    parts = key.split("/")
    if parts[0] == "inference":
        return f"inference, {parts[1]} / bare (BERT-base, 8 x 128)"
    if parts[0] == "training":
        what = "ms per full fine-tuning step" if parts[2] == "full_ms" else f"training step, {parts[2]} / full"
        return f"{what} ({_MODEL[parts[1]]}, 8 x 128)"
    if parts[0] == "memory":
        return f"peak training memory, {parts[2]} / full ({_MODEL[parts[1]]})"
    if parts[0] == "serving" and len(parts) == 3:
        what = {"rps": "throughput", "p50_ms": "p50 latency", "p99_ms": "p99 latency"}[parts[2]]
        return f"serve, {parts[1].replace('_', '-')}: {what}"
    return key


def verdict(key: str, value: float) -> str:
    """``PASS`` / ``FAIL`` against the target, or ``info`` for workloads without one."""
    if key in MINIMUMS:
        return "PASS" if value >= MINIMUMS[key] else "FAIL"
    bound = TARGETS.get(key)
    if bound is None:
        return "info"
    return "PASS" if value <= bound else "FAIL"


def bound_text(key: str, unit: str) -> str:
    """The target as shown in the tables (``≤ 1.03``, ``≥ 3.00``, ``≤ 50 ms``), or ``""``."""
    if key in MINIMUMS:
        return f"≥ {MINIMUMS[key]:.2f}"
    target = TARGETS.get(key)
    if target is None:
        return ""
    return f"≤ {target:.2f}" if unit == "x" else f"≤ {target:g} {unit}"
