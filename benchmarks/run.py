"""The benchmark runner (``make bench``): every workload of issue 14 with its target and a pass/fail mark.

Runs the workloads of ``workloads.py`` on this library in this process, prints the table and writes it to
``benchmarks/results.md`` and ``benchmarks/results.json``. About 11 minutes on a quiet 2-core machine; the 1-minute
load average is recorded before and after every group, because figures taken while other jobs use the cores are
noisy (ratios of interleaved medians much less so than absolute times).

    .venv/bin/python benchmarks/run.py [--groups inference,training] [--no-compile] [--quick]

``--quick`` runs every workload on a 2-layer model with few repeats: a check that everything runs, not a result.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import transformers
from targets import MINIMUMS, TARGETS, bound_text, describe, verdict
from workloads import GROUPS, Settings, add_workload_arguments, run_groups

__all__ = ["main", "render"]

HERE = Path(__file__).parent


def _size_note(report: dict) -> str:
    layers = report.get("settings", {}).get("layers", 12)
    return "" if layers == 12 else f" **{layers}-layer models (--quick): a check that everything runs, not a result.**"


def render(report: dict) -> str:
    """The Markdown table of a report (as written by :func:`main`)."""
    loads = report["load"]
    lines = [
        f"# Benchmark results ({report['date']})",
        "",
        f"{report['library']}, torch {report['torch']}, Python {report['python']}, 2 threads. "
        f"Load average (1 min) during the run: {min(loads):.1f}–{max(loads):.1f}"
        + (" — **noisy: re-run on a quiet machine**" if max(loads) > 3 else "")
        + "."
        + _size_note(report),
        "",
        "| workload | value | target | |",
        "|---|---:|---:|---|",
    ]
    for key, entry in report["results"].items():
        value, unit = entry["value"], entry["unit"]
        shown = f"{value:.3f}" if unit == "x" else f"{value:.1f} {unit}"
        lines.append(f"| {describe(key)} | {shown} | {bound_text(key, unit)} | {verdict(key, value)} |")
    failed = [k for k, e in report["results"].items() if verdict(k, e["value"]) == "FAIL"]
    judged = sum(k in TARGETS or k in MINIMUMS for k in report["results"])
    lines += ["", f"{len(failed)} of {judged} targets missed"
              + (": " + ", ".join(failed) if failed else "") + "."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _serving(report: dict, args: argparse.Namespace, write) -> dict:
    """The ``serving`` group (this library only: ``adapters serve``): benchmarks/serve.py's three servers."""
    from serve import serving_results  # imports the serve tests' helpers: only when the group runs

    start, before = time.perf_counter(), os.getloadavg()[0]
    requests = 160 if args.quick else 800
    found = serving_results(requests=requests, clients=16, rounds=1)
    after = os.getloadavg()[0]
    report["results"].update(found)
    report["load"] = [*report.get("load", []), before, after]
    summary = ", ".join(f"{k.split('/', 1)[1]} {v['value']:.2f}" for k, v in found.items() if v["unit"] == "x")
    print(f"[serving: {time.perf_counter() - start:.0f} s, load {after:.1f}] {summary}", flush=True)
    write(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_workload_arguments(parser)
    parser.set_defaults(groups=",".join([*GROUPS, "serving"]))  # serving: adapters serve, this library only
    parser.add_argument("--quick", action="store_true", help="2-layer models, 2 repeats (a smoke check)")
    parser.add_argument("--out", default=str(HERE / "results"), help="output path without suffix (.md and .json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.layers, args.repeats, args.train_repeats = 2, 2, 2
    settings = Settings(args.layers, args.repeats, args.train_repeats, not args.no_compile)

    def write(report: dict) -> str:  # after every group: a run cut short keeps what it measured
        report.update(
            date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            torch=torch.__version__,
            transformers=transformers.__version__,
            python=platform.python_version(),
        )
        text = render(report)
        Path(args.out + ".json").write_text(json.dumps(report, indent=2) + "\n")
        Path(args.out + ".md").write_text(text)
        return text

    groups = [g for g in args.groups.split(",") if g]
    report = run_groups([g for g in groups if g != "serving"], settings, "adapters", log=print, partial=write)
    if "serving" in groups:
        report = _serving(report, args, write)
    text = write(report)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
