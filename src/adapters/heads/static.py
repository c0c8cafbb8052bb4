"""``StaticHeadsMixin``: save and load the transformers head of a static-head model with its adapter."""

from __future__ import annotations

from .files import has_static_head, load_adapter_and_head, load_static_head, save_static_head

__all__ = ["StaticHeadsMixin"]


class StaticHeadsMixin:
    """Mixed in by :func:`adapters.init` on transformers models with a task head (``BertForSequenceClassification``,
    ``GPT2LMHeadModel``, ...): ``save_adapter(..., with_head=True)`` also writes the head, in the reference's format
    for static heads, and ``load_adapter`` loads such a head back when it was saved from the same class. Base models
    (``BertModel``) have no head: they save none and ignore saved heads."""

    def save_adapter(
        self,
        save_directory: str,
        adapter_name: str,
        with_head: bool = True,
        meta_dict=None,
        custom_weights_loaders=None,
        use_safetensors: bool = True,
        **kwargs,
    ) -> None:
        super().save_adapter(
            save_directory,
            adapter_name,
            meta_dict=meta_dict,
            custom_weights_loaders=custom_weights_loaders,
            use_safetensors=use_safetensors,
            **kwargs,
        )
        if with_head:
            save_static_head(self, save_directory, use_safetensors=use_safetensors)

    def load_adapter(
        self,
        adapter_name_or_path: str,
        config=None,
        version=None,
        model_name=None,
        load_as=None,
        with_head: bool = True,
        custom_weights_loaders=None,
        leave_out=None,
        id2label=None,
        set_active: bool = False,
        use_safetensors: bool | None = None,
        **kwargs,
    ) -> str:
        """Load an adapter and, with ``with_head`` (default), the static head saved next to it."""
        def load_head(folder, name):
            if has_static_head(self):
                load_static_head(self, folder, use_safetensors=use_safetensors)

        return load_adapter_and_head(
            self,
            super().load_adapter,
            adapter_name_or_path,
            load_head,
            with_head=with_head,
            set_active=set_active,
            config=config,
            version=version,
            model_name=model_name,
            load_as=load_as,
            custom_weights_loaders=custom_weights_loaders,
            leave_out=leave_out,
            use_safetensors=use_safetensors,
            **kwargs,
        )
