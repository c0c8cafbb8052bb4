"""``StaticHeadsMixin``: save and load the transformers head of a static-head model with its adapter."""

from __future__ import annotations

from ..errors import AdapterNotFoundError
from ..io.atomic import atomic_save
from .files import has_static_head, label_map_for, load_adapter_and_head, load_static_head, save_static_head
from .with_heads import ModelWithHeadsAdaptersMixin

__all__ = ["StaticHeadsMixin"]


class StaticHeadsMixin(ModelWithHeadsAdaptersMixin):
    """Mixed in by :func:`adapters.init` on transformers models with a task head (``BertForSequenceClassification``,
    ``GPT2LMHeadModel``, ...): ``save_adapter(..., with_head=True)`` also writes the head, in the reference's format
    for static heads, and ``load_adapter`` loads such a head back when it was saved from the same class. Base models
    (``BertModel``) have no head: they save none and ignore saved heads. ``save_head``/``load_head`` save and load
    the head alone."""

    @atomic_save()
    def save_head(self, save_directory: str, head_name: str | None = None, use_safetensors: bool = True) -> None:
        """Save the model's transformers head (``head_name`` is ignored: a static model has one unnamed head).

        Raises:
            AdapterNotFoundError: the model has no head (a base model such as ``BertModel``).
        """
        if not save_static_head(self, save_directory, use_safetensors=use_safetensors):
            raise AdapterNotFoundError(f"{type(self).__name__} has no prediction head to save.")

    def load_head(
        self,
        save_directory: str,
        load_as: str | None = None,
        id2label: dict | None = None,
        use_safetensors: bool | None = None,
        **kwargs,
    ) -> None:
        """Load a head saved from the same transformers class (a static head has no name; returns ``None``).

        ``id2label`` replaces the model config's labels. Raises as ``load_adapter`` does for heads of another class.
        """
        if id2label is not None:
            label_map_for(getattr(self.config, "num_labels", None), id2label, save_directory)
        load_static_head(self, save_directory, use_safetensors=use_safetensors)
        if id2label is not None:
            self.config.id2label = {int(i): label for i, label in id2label.items()}
            self.config.label2id = {label: int(i) for i, label in id2label.items()}

    @atomic_save()
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
