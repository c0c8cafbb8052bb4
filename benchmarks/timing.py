"""How every benchmark figure is measured: interleaved medians, and peak memory in a fresh process.

This module imports only the standard library and torch, so the same code measures our library, the reference
``adapters`` 1.3.0 and PEFT (``benchmarks/compare.py`` runs ``benchmarks/workloads.py`` in their environments).

* Speed: :func:`interleaved` times several runners round-robin (``bare, a, b, bare, a, b, ...``) after warm-up and
  returns each runner's median. The machine is shared, so load changes during a run affect every runner alike and
  the *ratio* of two medians is stable where separate-process timings vary by 5 % or more.
* Memory: :func:`peak_rss_above` reads the kernel's peak resident set size (``VmHWM``) of this process. A probe runs
  in a fresh interpreter (``python workloads.py --memory-probe ...``), so the peak belongs to one workload only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

__all__ = ["interleaved", "rss_bytes", "peak_rss_bytes", "load_average"]


def interleaved(runners: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each runner, timed round-robin after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line (Linux only)")


def rss_bytes() -> int:
    """The current resident set size of this process."""
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far."""
    return _status_kib("VmHWM") * 1024


def load_average() -> float:
    """The machine's 1-minute load average (recorded with every run: figures taken above ~3 are noisy)."""
    with open("/proc/loadavg") as loadavg:
        return float(loadavg.read().split()[0])
