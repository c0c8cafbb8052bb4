"""Sharing adapters: ``push_adapter_to_hub`` and model cards (mixed into every adapter-enabled model).

``push_adapter_to_hub`` saves the adapter (with its head, on models with heads) into a folder, adds a README model
card (:mod:`adapters.io.model_card`) and uploads the folder with ``huggingface_hub``. Loading it back is
``model.load_adapter("<user>/<repo>")``. ``save_adapter_card`` writes the same card into a local folder.
"""

from __future__ import annotations

import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any

__all__ = ["HubMixin"]

README_NAME = "README.md"


class HubMixin:
    """Hub sharing methods of :class:`~adapters.model.ModelAdaptersMixin`."""

    def save_adapter_card(
        self,
        save_directory: str | Path,
        adapter_name: str,
        repo_id: str | None = None,
        datasets_tag: str | None = None,
        **card_kwargs: Any,
    ) -> Path:
        """Write the README model card of adapter ``adapter_name`` into ``save_directory`` and return its path.

        ``card_kwargs``: ``tags``, ``language``, ``license``, ``metrics``, ``architecture_training``, ``training``
        (dict of training figures), ``results`` (dict or text), ``citation``.
        """
        from .io.model_card import build_adapter_card

        self._require_adapter(adapter_name)
        text = build_adapter_card(self, adapter_name, repo_id=repo_id, datasets_tag=datasets_tag, **card_kwargs)
        path = Path(save_directory) / README_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def push_adapter_to_hub(
        self,
        repo_id: str,
        adapter_name: str,
        datasets_tag: str | None = None,
        local_path: str | None = None,
        commit_message: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        overwrite_adapter_card: bool = False,
        create_pr: bool = False,
        revision: str | None = None,
        commit_description: str | None = None,
        adapter_card_kwargs: dict | None = None,
    ):
        """Upload adapter ``adapter_name`` (and its head, if the model has one of that name) to the Hub repo
        ``repo_id``, which is created if needed; returns the commit info of ``huggingface_hub``.

        The folder uploaded is the one ``save_adapter`` writes plus ``README.md``: a model card with the base model,
        method, head and tags (``datasets_tag`` such as ``"sentiment/sst-2"`` adds ``adapterhub:<tag>``), and
        ``adapter_card_kwargs`` (see :meth:`save_adapter_card`). An existing README in the repo is kept unless
        ``overwrite_adapter_card``. ``local_path`` keeps the folder there (default: a temporary folder).
        """
        from huggingface_hub import HfApi

        from .io.model_card import build_adapter_card

        self._require_adapter(adapter_name)
        card_kwargs = adapter_card_kwargs or {}
        build_adapter_card(self, adapter_name, repo_id=repo_id, datasets_tag=datasets_tag, **card_kwargs)  # checks
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with nullcontext(local_path) if local_path else tempfile.TemporaryDirectory() as folder:
            self.save_adapter(str(folder), adapter_name)
            if overwrite_adapter_card or not api.file_exists(repo_id, README_NAME, revision=revision):
                self.save_adapter_card(folder, adapter_name, repo_id=repo_id, datasets_tag=datasets_tag, **card_kwargs)
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=str(folder),
                commit_message=commit_message or f"Add adapter {adapter_name}",
                commit_description=commit_description,
                revision=revision,
                create_pr=create_pr,
            )
