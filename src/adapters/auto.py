"""``AutoAdapterModel`` and the ``<Arch>AdapterModel`` classes, generated from the family tables.

Each class is ``type("<Prefix>AdapterModel", (AdapterModelBase, <Arch>PreTrainedModel[, GenerationMixin]), ...)``:
it inherits the family's ``config_class``, ``base_model_prefix`` and weight initialisation from transformers and
our heads and adapter API from :class:`~adapters.heads.adapter_model.AdapterModelBase`. The older names
``AutoModelWithHeads`` / ``<Arch>ModelWithHeads`` resolve to the same classes with a deprecation warning.
"""

from __future__ import annotations

import warnings
from typing import Any

from transformers import AutoConfig, GenerationMixin, PreTrainedModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING
from transformers.models.auto.modeling_auto import MODEL_MAPPING

from .architectures.specs import supported_model_types
from .errors import UnsupportedModelError
from .heads.adapter_model import AdapterModelBase
from .heads.families import GENERATING_HEAD_TYPES, HEAD_FAMILIES

__all__ = ["AutoAdapterModel", "AdapterModelMapping", "ADAPTER_MODEL_MAPPING", "ADAPTER_MODEL_CLASSES", "legacy_class"]


def _pretrained_base(model_type: str) -> type[PreTrainedModel]:
    base = MODEL_MAPPING[CONFIG_MAPPING[model_type]]
    return next(c for c in base.__mro__ if c.__name__.endswith("PreTrainedModel") and c is not PreTrainedModel)


class _GenerationWithLMHead:
    """``can_generate`` of an encoder family's AdapterModel (BERT, RoBERTa, ...), which gets ``GenerationMixin``
    only for its ``causal_lm`` / ``seq2seq_lm`` head types: the class can generate, a model once it has such a head.

    transformers builds a generation config for every model that can generate (and looks for
    ``generation_config.json`` when loading one): about 5 ms of each ``from_pretrained`` of BERT-base, for a model
    that is mostly loaded for classification. Adding an LM head builds the config then
    (:meth:`~adapters.heads.model_mixin.ModelWithFlexibleHeadsAdaptersMixin.add_prediction_head`). Decoder and
    encoder-decoder families always can, as in transformers.
    """

    def __get__(self, instance, owner):
        if instance is None:
            return lambda: True
        return lambda: has_lm_head(instance)


def has_lm_head(model) -> bool:
    """Whether ``model`` has (or, while it is being built, its config names) a ``causal_lm``/``seq2seq_lm`` head."""
    heads = model.__dict__.get("_modules", {}).get("heads")
    if heads is not None and len(heads):
        types = [head.config["head_type"] for head in heads.values()]
    else:
        saved = getattr(model.__dict__.get("config"), "prediction_heads", None) or {}
        types = [entry.get("head_type") for entry in saved.values() if isinstance(entry, dict)]
    return any(kind in GENERATING_HEAD_TYPES for kind in types)


def _build(model_type: str) -> type:
    family = HEAD_FAMILIES[model_type]
    name = f"{family.class_prefix}AdapterModel"
    bases: tuple[type, ...] = (AdapterModelBase, _pretrained_base(model_type))
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name, "head_types": family.head_types}
    if family.generation or GENERATING_HEAD_TYPES & set(
        family.head_types
    ):  # a model with an LM head type can generate
        bases += (GenerationMixin,)
        if family.pooling == "first":  # an encoder family (decoders pool the last token, encoder-decoders <eos>)
            namespace["can_generate"] = _GenerationWithLMHead()
    namespace["__doc__"] = (
        f"{family.class_prefix} with adapters and flexible prediction heads. Head types: "
        f"{', '.join(family.head_types)}."
    )
    return type(name, bases, namespace)


class AdapterModelMapping(dict):
    """``model_type`` → AdapterModel class. Lookups also accept a config class or config object, as the reference's
    mapping (keyed by config classes) did: ``BertConfig in ADAPTER_MODEL_MAPPING``,
    ``ADAPTER_MODEL_MAPPING[BertConfig]``. Iteration yields the ``model_type`` strings."""

    @staticmethod
    def _key(key: Any) -> Any:
        model_type = getattr(key, "model_type", None)
        return model_type if isinstance(model_type, str) and not isinstance(key, str) else key

    def __getitem__(self, key: Any) -> type:
        return super().__getitem__(self._key(key))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(self._key(key), default)


ADAPTER_MODEL_MAPPING = AdapterModelMapping({t: _build(t) for t in supported_model_types() if t in HEAD_FAMILIES})
ADAPTER_MODEL_CLASSES: dict[str, type] = {cls.__name__: cls for cls in ADAPTER_MODEL_MAPPING.values()}
globals().update(ADAPTER_MODEL_CLASSES)


def _class_for(model_type: str) -> type:
    if model_type not in ADAPTER_MODEL_MAPPING:
        supported = ", ".join(sorted(ADAPTER_MODEL_MAPPING))
        raise UnsupportedModelError(f"No AdapterModel class for model type {model_type!r}. Supported: {supported}.")
    return ADAPTER_MODEL_MAPPING[model_type]


class AutoAdapterModel:
    """Picks the ``<Arch>AdapterModel`` class from a config's ``model_type``."""

    def __init__(self, *args, **kwargs):
        raise OSError("AutoAdapterModel is instantiated with from_pretrained() or from_config().")

    @classmethod
    def from_config(cls, config, **kwargs):
        """A randomly initialised AdapterModel for ``config``."""
        return _class_for(config.model_type)._from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """Load a checkpoint (plain, static-head or AdapterModel) into the matching AdapterModel class."""
        config = kwargs.pop("config", None)
        if config is None or not hasattr(config, "model_type"):
            config_kwargs = {
                k: kwargs[k]
                for k in (
                    "cache_dir",
                    "revision",
                    "token",
                    "local_files_only",
                    "trust_remote_code",
                    "subfolder",
                    "gguf_file",
                )
                if k in kwargs
            }
            config = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, **config_kwargs)
        return _class_for(config.model_type).from_pretrained(
            pretrained_model_name_or_path, *model_args, config=config, **kwargs
        )


def legacy_class(name: str):
    """Resolve ``AutoModelWithHeads`` / ``<Arch>ModelWithHeads`` (adapter-transformers names), with a warning."""
    if name == "AutoModelWithHeads":
        target = AutoAdapterModel
    elif name.endswith("ModelWithHeads") and f"{name[: -len('ModelWithHeads')]}AdapterModel" in ADAPTER_MODEL_CLASSES:
        target = ADAPTER_MODEL_CLASSES[f"{name[: -len('ModelWithHeads')]}AdapterModel"]
    else:
        return None
    warnings.warn(f"{name} is deprecated; use {target.__name__} instead.", FutureWarning, stacklevel=3)
    return target
