"""Compare this library with others: the same workloads, run in other Python environments, side by side.

    .venv/bin/python benchmarks/compare.py --other-python /work/refvenv/bin/python \
        --other-python /work/peftvenv/bin/python

Each ``--other-python`` interpreter runs ``benchmarks/workloads.py`` (which needs only torch, transformers and the
library under test): an environment with ``adapters`` installed (the reference 1.3.0 on transformers 4.57) runs the
AdapterHub API, one with ``peft`` runs PEFT's equivalents (LoRA, (IA)³) and reports the rest as not applicable. This
library runs in this interpreter, or its figures are read from a ``make bench`` result (``--ours``); ``--report``
adds a report written earlier by ``workloads.py --json`` in another environment. Every figure is
a ratio to the bare transformers model (or to full fine-tuning) measured in the same process as the library, so
figures from different environments are comparable; absolute times (marked ``ms``, ``ex/s``) are only comparable
when the runs happened under the same machine load (recorded in the table). docs/performance.md says how to build
the environments.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from targets import bound_text, describe
from workloads import add_workload_arguments, minilm_path

__all__ = ["main", "table"]

HERE = Path(__file__).parent
NOTES = {
    "peft": {
        "inference/inactive": "inside disable_adapter()",
        "files/load_adapter_ms": "a LoRA adapter",
        "files/switch_ms": "set_adapter",
    }
}


def _library_kind(python: str) -> str:
    probe = "import importlib.util as u; print('adapters' if u.find_spec('adapters') else 'peft')"
    return subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout.strip()


def run_other(python: str, args: argparse.Namespace) -> dict:
    """Run the workloads with interpreter ``python`` and return its report."""
    kind = _library_kind(python)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        command = [python, str(HERE / "workloads.py"), "--library", kind, "--groups", args.groups, "--json", str(out)]
        command += ["--layers", str(args.layers), "--repeats", str(args.repeats)]
        command += ["--train-repeats", str(args.train_repeats)]
        if args.no_compile:
            command.append("--no-compile")
        minilm = minilm_path()
        if minilm:
            command += ["--minilm", minilm]
        print(f"running {kind} with {python} ...", file=sys.stderr)
        subprocess.run(command, check=True, cwd=HERE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        report = json.loads(out.read_text())
    report["kind"] = kind
    return report


def _cell(report: dict, key: str) -> str:
    entry = report["results"].get(key)
    if entry is None:
        return "n/a"
    value = f"{entry['value']:.3f}" if entry["unit"] == "x" else f"{entry['value']:.1f} {entry['unit']}"
    note = NOTES.get(report.get("kind", ""), {}).get(key)
    return f"{value} ({note})" if note else value


def table(reports: list[dict]) -> str:
    """A Markdown table: one row per workload, one column per library (``reports[0]`` is this library)."""
    keys = list(dict.fromkeys(key for report in reports for key in report["results"]))
    header = ["workload", "target", *(report["library"] for report in reports)]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * len(reports)]
    for key in keys:
        unit = next((r["results"][key]["unit"] for r in reports if key in r["results"]), "x")
        cells = [describe(key), bound_text(key, unit), *(_cell(r, key) for r in reports)]
        lines.append("| " + " | ".join(cells) + " |")
    loads = ", ".join(
        f"{r['library']}: {min(r['load']):.1f}–{max(r['load']):.1f} ({r.get('settings', {}).get('layers', 12)} layers)"
        for r in reports
    )
    return "\n".join(lines) + f"\n\nLoad average (1 min) during each run, and model depth: {loads}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--other-python", action="append", default=[], help="interpreter of another environment")
    parser.add_argument("--ours", help="a results.json written by benchmarks/run.py instead of running ours again")
    parser.add_argument(
        "--report", action="append", default=[], help="a report written by workloads.py --json in another environment"
    )
    add_workload_arguments(parser)
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.ours:
        ours = json.loads(Path(args.ours).read_text())
    else:
        ours = run_other(sys.executable, args)
    if not args.other_python and not args.report:
        parser.error("give at least one --other-python or --report")
    saved = [json.loads(Path(path).read_text()) for path in args.report]
    reports = [ours, *saved, *(run_other(python, args) for python in args.other_python)]
    text = table(reports)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
