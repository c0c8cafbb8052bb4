"""``StaticHeadsMixin``: save and load the transformers head of a static-head model with its adapter."""

from __future__ import annotations

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
    ) -> None:
        from ..io.heads import save_static_head

        super().save_adapter(save_directory, adapter_name, meta_dict=meta_dict, use_safetensors=use_safetensors)
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
        from ..io.heads import has_saved_head, has_static_head, load_static_head
        from ..io.loading import read_adapter_config, resolve_adapter_folder

        folder = resolve_adapter_folder(adapter_name_or_path, version=version, **kwargs)
        existed = (load_as or read_adapter_config(folder)[0]["name"]) in self.adapters_config
        name = super().load_adapter(
            str(folder),
            load_as=load_as,
            leave_out=leave_out,
            set_active=False,
            use_safetensors=use_safetensors,
            **kwargs,
        )
        if with_head and has_saved_head(folder) and has_static_head(self):
            try:
                load_static_head(self, folder, use_safetensors=use_safetensors)
            except BaseException:
                if not existed:
                    self.delete_adapter(name)
                raise
        if set_active:
            self.set_active_adapters(name)
        return name
