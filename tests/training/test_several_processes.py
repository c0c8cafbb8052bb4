"""Training on two processes (gloo, CPU) through AdapterTrainer, launched by ``torchrun`` and ``accelerate launch``:
both ranks end with identical adapter weights, only rank 0 writes files, and the result equals a single-process run
with the same global batch."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("ddp_train.py")
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    _run([sys.executable, str(SCRIPT), str(folder / "out"), str(folder / "side")])
    return load_file(folder / "side" / "rank0.safetensors")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str]) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # own process group: a launcher that hangs is killed together with its worker processes
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)  # fmt: skip
    try:
        _, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert process.returncode == 0, stderr[-3000:]


def _check_two_ranks(folder: Path, single: dict[str, torch.Tensor]) -> None:
    rank0, rank1 = (load_file(folder / "side" / f"rank{r}.safetensors") for r in (0, 1))
    assert rank0.keys() == rank1.keys() == single.keys() and len(single) == 12
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
        torch.testing.assert_close(rank0[key], single[key], rtol=1e-5, atol=1e-6)
    assert (folder / "side" / "saved-by-rank0" / "a" / "adapter.safetensors").is_file()
    assert not (folder / "side" / "saved-by-rank1").exists()
    saved = load_file(folder / "out" / "checkpoint-4" / "a" / "adapter.safetensors")
    assert saved and all(torch.equal(v, rank0[k]) for k, v in saved.items())


def test_torchrun_two_processes(tmp_path, single_process):
    _run([str(BIN / "torchrun"), "--nproc_per_node=2", f"--master_port={_free_port()}", str(SCRIPT),
          str(tmp_path / "out"), str(tmp_path / "side")])  # fmt: skip
    _check_two_ranks(tmp_path, single_process)


def test_accelerate_launch_two_processes(tmp_path, single_process):
    # accelerate starts several CPU processes through torch's launcher with --multi_gpu (its MULTI_CPU mode needs
    # MPI); the script's TrainingArguments(use_cpu=True) selects the gloo backend
    _run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()), str(SCRIPT),
          str(tmp_path / "out"), str(tmp_path / "side")])  # fmt: skip
    _check_two_ranks(tmp_path, single_process)
