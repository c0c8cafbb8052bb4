"""The curl examples of docs/serving.md, run in page order against live servers.

Every ``$ curl ...`` line of the page's ``console`` blocks runs (bash, in a folder where ``runs/<name>`` are the
saved adapters the page names) against a tiny BERT served on a free port in place of ``localhost:8000`` and a tiny
GPT-2 in place of ``localhost:8001``. The answer must have the documented shape: the same JSON keys (values differ:
the weights are random) and the same ``adapter``/``task``/``name`` values, or, for ``/metrics``, the documented
metric names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_ADAPTERS, make_engine

import serving
from adapters.serve import create_app

sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))

from code_blocks import code_blocks  # noqa: E402

PAGE = Path(__file__).parents[2] / "docs" / "serving.md"
pytestmark = pytest.mark.skipif(
    subprocess.run(["which", "curl"], capture_output=True).returncode != 0, reason="curl is not installed"
)


def examples() -> list[tuple[str, str]]:
    """``(command, documented output)`` of every curl line of the page, in order."""
    found = []
    for block in code_blocks(PAGE):
        if block.language != "console":
            continue
        lines = block.source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("$ curl"):
                output = []
                for following in lines[i + 1 :]:
                    if following.startswith("$ "):
                        break
                    output.append(following)
                found.append((line[2:], "\n".join(output)))
    return found


def _same_shape(documented, answer) -> bool:
    if isinstance(documented, dict):
        if not isinstance(answer, dict) or documented.keys() != answer.keys():
            return False
        fixed = ("adapter", "task", "name", "head_type", "method", "unloaded", "status")
        if any(documented[k] != answer[k] for k in fixed if k in documented):
            return False
        return all(
            _same_shape(documented[k], answer[k])
            for k in documented
            if k not in ("scores", "labels", "tokens", "entities")
        )
    if isinstance(documented, list):
        return isinstance(answer, list) and (not documented or not answer or _same_shape(documented[0], answer[0]))
    return True


def test_the_page_has_examples_of_every_endpoint():
    commands = " ".join(command for command, _ in examples())
    for endpoint in ("/predict", "/generate", "/adapters", "-X DELETE", "/health", "/metrics"):
        assert endpoint in commands


def test_curl_examples_answer_as_documented(tiny_served, tmp_path, monkeypatch):
    base, saved = tiny_served
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, path in saved.items():
        (runs / name).symlink_to(path)
    monkeypatch.chdir(tmp_path)  # the page's sources are relative: runs/<name>
    assert {"sentiment", "labels", "ner", "qa", "topic"} <= set(TINY_ADAPTERS)
    encoder = make_engine(base, {name: f"runs/{name}" for name in ("sentiment", "labels", "ner", "qa")})
    decoder_base = serving.tiny_decoder(tmp_path / "decoder")
    decoder = make_engine(
        decoder_base, serving.save_adapters(decoder_base, tmp_path / "chat", {"chat": ("lora", "causal_lm", {})})
    )
    with serving.LiveServer(create_app(encoder)) as url, serving.LiveServer(create_app(decoder)) as url_lm:
        for command, documented in examples():
            command = command.replace("localhost:8000", url).replace("localhost:8001", url_lm)
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=dict(os.environ)
            )
            assert done.returncode == 0, (command, done.stderr)
            if "/metrics" in command:
                names = {line.split()[2] for line in documented.splitlines() if line.startswith("# TYPE")}
                assert all(f"# TYPE {n} " in done.stdout for n in names) and names, done.stdout[:500]
                continue
            assert _same_shape(json.loads(documented), json.loads(done.stdout)), (command, done.stdout)
