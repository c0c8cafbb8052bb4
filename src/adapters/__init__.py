"""adapters for transformers 5: parameter-efficient, modular transfer learning on HuggingFace transformers 5.x.

Same public API and on-disk format as the reference AdapterHub ``adapters`` library (1.3), implemented without
copied model code: methods attach through forward hooks guided by per-architecture specs written as data.

Example::

    import adapters
    from transformers import AutoModel

    model = AutoModel.from_pretrained("...")
    adapters.init(model)
    model.add_adapter("sst", config="seq_bn")
    model.train_adapter("sst")
"""

from __future__ import annotations

from . import configuration as _configuration
from . import models, utils  # noqa: F401  (import paths of the reference: adapters.models.<family>, adapters.utils)
from .architectures.interface import AdapterMethod, AdapterModelInterface
from .auto import ADAPTER_MODEL_CLASSES as _ADAPTER_MODEL_CLASSES
from .auto import ADAPTER_MODEL_MAPPING, AutoAdapterModel, legacy_class
from .composition import (
    AdapterCompositionBlock,
    Average,
    BatchSplit,
    Fuse,
    MultiTask,
    Parallel,
    Split,
    Stack,
    parse_composition,
    validate_composition,
)
from .configuration import *  # noqa: F403  (the configuration package defines an explicit __all__)
from .context import AdapterSetup, ForwardContext
from .errors import (
    AdapterConfigError,
    AdapterError,
    AdapterExistsError,
    AdapterFileNotFoundError,
    AdapterNameError,
    AdapterNotFoundError,
    ArgumentError,
    CheckpointError,
    CompositionError,
    ConfigFieldError,
    ConfigKeyError,
    EmbeddingNotFoundError,
    RoutingError,
    TrainingSetupError,
    UnsafeArchiveError,
    UnsupportedAttentionError,
    UnsupportedMethodError,
    UnsupportedModelError,
)
from .heads import (
    BertStyleMaskedLMHead,
    BiaffineParsingHead,
    CausalLMHead,
    ClassificationHead,
    DependencyParsingOutput,
    ImageClassificationHead,
    ModelWithFlexibleHeadsAdaptersMixin,
    MultiHeadOutput,
    MultiLabelClassificationHead,
    MultipleChoiceHead,
    PredictionHead,
    QuestionAnsweringHead,
    RoutedOutput,
    Seq2SeqLMHead,
    TaggingHead,
)
from .io.download import ADAPTER_CACHE
from .io.hub import AdapterInfo, AdapterType, get_adapter_info, list_adapters
from .io.peft_export import export_to_peft
from .methods.adapter_layer_base import AdapterLayerBase, ComposableAdapterLayerBase
from .model import ModelAdaptersMixin
from .model_mixin import (
    EmbeddingAdaptersMixin,
    InvertibleAdaptersMixin,
    InvertibleAdaptersWrapperMixin,
    ModelWithHeadsAdaptersMixin,
)
from .version import __version__
from .wrappers import init, init_adapters_config, load_model

globals().update(_ADAPTER_MODEL_CLASSES)

_TRAINING = ("AdapterTrainer", "Seq2SeqAdapterTrainer", "AdapterArguments", "setup_adapter_training")

__all__ = [
    "__version__",
    "AutoAdapterModel",
    "ADAPTER_MODEL_MAPPING",
    *_ADAPTER_MODEL_CLASSES,
    # heads
    "PredictionHead",
    "ClassificationHead",
    "MultiLabelClassificationHead",
    "ImageClassificationHead",
    "MultipleChoiceHead",
    "TaggingHead",
    "QuestionAnsweringHead",
    "BiaffineParsingHead",
    "DependencyParsingOutput",
    "BertStyleMaskedLMHead",
    "CausalLMHead",
    "Seq2SeqLMHead",
    "MultiHeadOutput",
    "RoutedOutput",
    "ModelWithFlexibleHeadsAdaptersMixin",
    "init",
    "load_model",
    "init_adapters_config",
    "AdapterModelInterface",
    "ModelAdaptersMixin",
    "EmbeddingAdaptersMixin",
    "InvertibleAdaptersMixin",
    "InvertibleAdaptersWrapperMixin",
    "ModelWithHeadsAdaptersMixin",
    "AdapterMethod",
    "AdapterSetup",
    "ForwardContext",
    "AdapterLayerBase",
    "ComposableAdapterLayerBase",
    # composition
    "AdapterCompositionBlock",
    "Average",
    "BatchSplit",
    "Fuse",
    "MultiTask",
    "Parallel",
    "Split",
    "Stack",
    "parse_composition",
    "validate_composition",
    # errors
    "AdapterError",
    "AdapterConfigError",
    "ConfigFieldError",
    "ConfigKeyError",
    "EmbeddingNotFoundError",
    "ArgumentError",
    "AdapterExistsError",
    "AdapterNameError",
    "AdapterNotFoundError",
    "AdapterFileNotFoundError",
    "CheckpointError",
    "CompositionError",
    "RoutingError",
    "UnsupportedMethodError",
    "UnsupportedModelError",
    "UnsupportedAttentionError",
    "UnsafeArchiveError",
    # sharing (the reference's adapters.utils names) and PEFT interop
    "ADAPTER_CACHE",
    "AdapterInfo",
    "AdapterType",
    "get_adapter_info",
    "list_adapters",
    "export_to_peft",
    "TrainingSetupError",
    # training (imported on first use: transformers' Trainer is slow to import)
    *_TRAINING,
    *_configuration.__all__,
]


def __getattr__(name: str):
    """The training names (imported on first use) and old adapter-transformers names (``AutoModelWithHeads``,
    ``BertModelWithHeads``, ...) with a warning."""
    if name in _TRAINING:
        from . import training

        return getattr(training, name)
    target = legacy_class(name)
    if target is None:
        raise AttributeError(f"module 'adapters' has no attribute {name!r}")
    return target
