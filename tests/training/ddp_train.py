"""Training script for the several-processes tests (run by ``torchrun``/``accelerate launch``, or directly).

Trains the tiny classifier of :mod:`training.helpers` for 4 steps with a global batch of 4 rows split over the
processes, then: every rank writes its adapter weights to ``<side>/rank<r>.safetensors`` (test instrumentation) and
calls ``trainer.save_model(<side>/saved-by-rank<r>)`` (only rank 0 may write); the trainer's own checkpoint goes to
``<out>``. Usage: ``ddp_train.py OUT SIDE``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parents[1])]  # tests/ (tiny_models, training.helpers)

from safetensors.torch import save_file  # noqa: E402

from adapters import AdapterTrainer  # noqa: E402
from training.helpers import adapter_weights, tiny_args, tiny_classifier, tiny_dataset  # noqa: E402

GLOBAL_BATCH = 4


def main(out: str, side: str) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    model = tiny_classifier(dropout=0.0)
    args = tiny_args(out, per_device_train_batch_size=GLOBAL_BATCH // world, max_steps=4, save_strategy="steps",
                     save_steps=4, ddp_backend="gloo" if world > 1 else None)  # fmt: skip
    trainer = AdapterTrainer(model=model, args=args, train_dataset=tiny_dataset(16))
    trainer.train()
    Path(side).mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in adapter_weights(model).items()}, f"{side}/rank{rank}.safetensors")
    trainer.save_model(f"{side}/saved-by-rank{rank}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
