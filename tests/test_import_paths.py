"""Every public name of the reference (adapters 1.3.0) imports from the same path here.

``REFERENCE_IMPORTS`` is the reference's ``_import_structure`` (``adapters/__init__.py``: module → names; every
name is also importable from ``adapters``), copied name for name from adapters 1.3.0; ``DEEP_IMPORTS`` the deeper
paths its users import from.
"""

from __future__ import annotations

import importlib

import pytest
import transformers as tf

import adapters
from adapters.models import family_module_name

REFERENCE_IMPORTS: dict[str, tuple[str, ...]] = {
    "composition": (
        "AdapterCompositionBlock", "BatchSplit", "Fuse", "MultiTask", "Parallel", "Split", "Stack",
        "parse_composition", "validate_composition",
    ),
    "configuration": (
        "ADAPTER_CONFIG_MAP", "ADAPTERFUSION_CONFIG_MAP", "DEFAULT_ADAPTER_CONFIG", "DEFAULT_ADAPTERFUSION_CONFIG",
        "AdapterConfig", "AdapterFusionConfig", "AdapterPlusConfig", "BnConfig", "CompacterConfig",
        "CompacterPlusPlusConfig", "ConfigUnion", "DiReftConfig", "DoRAConfig", "DoubleSeqBnConfig",
        "DoubleSeqBnInvConfig", "DvoRAConfig", "DynamicAdapterFusionConfig", "IA3Config", "LoRAConfig",
        "LoReftConfig", "MAMConfig", "ModelAdaptersConfig", "MTLLoRAConfig", "MultiTaskConfig", "NoReftConfig",
        "ParBnConfig", "PrefixTuningConfig", "PromptTuningConfig", "ReftConfig", "SeqBnConfig", "SeqBnInvConfig",
        "StaticAdapterFusionConfig", "UniPELTConfig", "VeraConfig",
    ),
    "context": ("AdapterSetup", "ForwardContext"),
    "heads": (
        "BertStyleMaskedLMHead", "BiaffineParsingHead", "CausalLMHead", "ClassificationHead",
        "DependencyParsingOutput", "ModelWithFlexibleHeadsAdaptersMixin", "MultiHeadOutput",
        "MultiLabelClassificationHead", "MultipleChoiceHead", "PredictionHead", "QuestionAnsweringHead",
        "Seq2SeqLMHead", "TaggingHead",
    ),
    "interface": ("AdapterMethod", "AdapterModelInterface"),
    "methods.adapter_layer_base": ("AdapterLayerBase", "ComposableAdapterLayerBase"),
    "model_mixin": (
        "EmbeddingAdaptersMixin", "InvertibleAdaptersMixin", "InvertibleAdaptersWrapperMixin", "ModelAdaptersMixin",
        "ModelWithHeadsAdaptersMixin",
    ),
    "models.auto": ("ADAPTER_MODEL_MAPPING", "AutoAdapterModel"),
    "trainer": ("AdapterTrainer", "Seq2SeqAdapterTrainer"),
    "training": ("AdapterArguments", "setup_adapter_training"),
    "utils": (
        "ADAPTER_CACHE", "AdapterInfo", "AdapterType", "get_adapter_config_hash", "get_adapter_info", "list_adapters",
    ),
    "wrappers": ("init", "init_adapters_config", "load_model"),
}  # fmt: skip

# deeper paths users import from (not re-exported at the top level)
DEEP_IMPORTS: dict[str, tuple[str, ...]] = {
    "utils": (
        "CONFIG_NAME", "WEIGHTS_NAME", "SAFE_WEIGHTS_NAME", "HEAD_CONFIG_NAME", "HEAD_WEIGHTS_NAME",
        "SAFE_HEAD_WEIGHTS_NAME", "ADAPTERFUSION_CONFIG_NAME", "ADAPTERFUSION_WEIGHTS_NAME",
        "SAFE_ADAPTERFUSION_WEIGHTS_NAME", "EMBEDDING_FILE", "TOKENIZER_PATH", "SETUP_CONFIG_NAME", "find_in_index",
    ),
    "configuration.adapter_config": (
        "ADAPTER_CONFIG_MAP", "DEFAULT_ADAPTER_CONFIG", "AdapterConfig", "BnConfig", "SeqBnConfig",
        "DoubleSeqBnConfig", "ParBnConfig", "LoRAConfig", "IA3Config", "PrefixTuningConfig", "PromptTuningConfig",
        "ReftConfig", "ConfigUnion", "MAMConfig", "UniPELTConfig", "MultiTaskConfig", "MTLLoRAConfig",
    ),
    "configuration.adapter_fusion_config": ("AdapterFusionConfig", "ADAPTERFUSION_CONFIG_MAP"),
    "configuration.model_adapters_config": ("ModelAdaptersConfig",),
    "models.auto.adapter_model": ("ADAPTER_MODEL_MAPPING", "AutoAdapterModel"),
}  # fmt: skip

# The reference's AdapterModel classes: adapters.models.<family> (and .adapter_model) → class name.
REFERENCE_MODEL_CLASSES = {
    "albert": "AlbertAdapterModel", "bart": "BartAdapterModel", "beit": "BeitAdapterModel",
    "bert": "BertAdapterModel", "bert_generation": "BertGenerationAdapterModel", "clip": "CLIPAdapterModel",
    "deberta": "DebertaAdapterModel", "deberta_v2": "DebertaV2AdapterModel", "distilbert": "DistilBertAdapterModel",
    "electra": "ElectraAdapterModel", "gpt2": "GPT2AdapterModel", "gptj": "GPTJAdapterModel",
    "llama": "LlamaAdapterModel", "mbart": "MBartAdapterModel", "mistral": "MistralAdapterModel",
    "mt5": "MT5AdapterModel", "plbart": "PLBartAdapterModel", "roberta": "RobertaAdapterModel",
    "t5": "T5AdapterModel", "vit": "ViTAdapterModel", "whisper": "WhisperAdapterModel",
    "xlm_roberta": "XLMRobertaAdapterModel", "xmod": "XmodAdapterModel",
}  # fmt: skip


def _cases(table: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    return [(module, name) for module, names in table.items() for name in names]


def _import(module: str, name: str):
    return getattr(importlib.import_module(f"adapters.{module}"), name)


@pytest.mark.parametrize("module, name", _cases(REFERENCE_IMPORTS), ids=lambda value: str(value))
def test_reference_public_name_imports_from_the_same_path(module, name):
    value = _import(module, name)
    assert getattr(adapters, name) is value
    assert name in adapters.__all__


@pytest.mark.parametrize("module, name", _cases(DEEP_IMPORTS), ids=lambda value: str(value))
def test_deep_import_paths(module, name):
    assert _import(module, name) is not None


def test_every_reference_model_class_imports_from_its_path():
    supported = {family_module_name(t): cls for t, cls in adapters.ADAPTER_MODEL_MAPPING.items()}
    assert set(REFERENCE_MODEL_CLASSES) <= set(supported), sorted(set(REFERENCE_MODEL_CLASSES) - set(supported))
    for family, class_name in REFERENCE_MODEL_CLASSES.items():
        cls = _import(f"models.{family}", class_name)
        assert cls is _import(f"models.{family}.adapter_model", class_name) is getattr(adapters, class_name)
        assert cls is supported[family]


def test_every_supported_family_has_its_module_path():
    """Data-driven: a family added to the head-family table gets adapters.models.<family> with no other change."""
    for model_type, cls in adapters.ADAPTER_MODEL_MAPPING.items():
        module = importlib.import_module(f"adapters.models.{family_module_name(model_type)}.adapter_model")
        assert getattr(module, cls.__name__) is cls


REFERENCE_FILE_NAMES = {
    "CONFIG_NAME": "adapter_config.json",
    "WEIGHTS_NAME": "pytorch_adapter.bin",
    "SAFE_WEIGHTS_NAME": "adapter.safetensors",
    "HEAD_CONFIG_NAME": "head_config.json",
    "HEAD_WEIGHTS_NAME": "pytorch_model_head.bin",
    "SAFE_HEAD_WEIGHTS_NAME": "model_head.safetensors",
    "ADAPTERFUSION_CONFIG_NAME": "adapter_fusion_config.json",
    "ADAPTERFUSION_WEIGHTS_NAME": "pytorch_model_adapter_fusion.bin",
    "SAFE_ADAPTERFUSION_WEIGHTS_NAME": "model_adapter_fusion.safetensors",
    "EMBEDDING_FILE": "embedding.pt",
    "TOKENIZER_PATH": "tokenizer",
    "SETUP_CONFIG_NAME": "adapter_setup.json",
}


def test_file_name_constants_are_the_reference_names():
    from adapters import utils

    assert {name: getattr(utils, name) for name in REFERENCE_FILE_NAMES} == REFERENCE_FILE_NAMES
    assert utils.get_adapter_config_hash(adapters.SeqBnConfig()) == "9076f36a74755ac4"


def test_adapter_model_mapping_answers_config_classes_and_model_types():
    mapping = adapters.ADAPTER_MODEL_MAPPING
    assert tf.BertConfig in mapping and "bert" in mapping and tf.BertConfig() in mapping
    assert mapping[tf.BertConfig] is mapping["bert"] is adapters.BertAdapterModel
    assert mapping.get(tf.GPT2Config) is adapters.GPT2AdapterModel
    assert tf.CLIPVisionConfig not in mapping and mapping.get(tf.CLIPVisionConfig) is None
    with pytest.raises(KeyError):
        mapping[tf.CLIPVisionConfig]


def test_the_tables_cover_every_name_of_the_reference():
    # adapters 1.3.0's _import_structure: 82 names outside adapters.models.<family>, 23 AdapterModel classes there
    assert len(_cases(REFERENCE_IMPORTS)) == 82 and len(REFERENCE_MODEL_CLASSES) == 23


def test_forward_context_is_a_view_of_the_call_in_progress():
    import torch

    from tiny_models import build, inputs

    model = adapters.init(build("bert")).eval()
    model.add_adapter("a")
    model.add_adapter("b")
    model.set_active_adapters(adapters.MultiTask("a", "b"))
    seen = []
    model.encoder.layer[0].register_forward_hook(lambda *_: seen.append(adapters.ForwardContext.get_context()))
    assert adapters.ForwardContext.get_context() is None
    task_ids = torch.tensor([1, 0])
    with torch.no_grad():
        model(**inputs("bert"), task_ids=task_ids, output_adapter_gating_scores=True)
    (context,) = seen
    assert context.adapter_setup == adapters.MultiTask("a", "b") and context.task_ids is task_ids
    assert context.output_adapter_gating_scores and not context.output_adapter_fusion_attentions
    assert context.prompt_tokens_length == 0 and context.adapter_gating_scores == {}
    assert adapters.ForwardContext.get_context() is None  # withdrawn after the call
    with pytest.raises(adapters.CompositionError):  # a failing call withdraws its context too
        model(**inputs("bert"))
    assert adapters.ForwardContext.get_context() is None


def test_adapter_layer_base_classes_answer_for_the_per_layer_modules():
    from tiny_models import build

    model = adapters.init(build("bert"))
    for name, config in (("bn", "seq_bn_inv"), ("lora", "lora"), ("prefix", "prefix_tuning"), ("reft", "loreft")):
        model.add_adapter(name, config=config)
    model.add_adapter("prompt", config="prompt_tuning")
    layers = [m for m in model.modules() if isinstance(m, adapters.AdapterLayerBase)]
    composable = [m for m in layers if isinstance(m, adapters.ComposableAdapterLayerBase)]
    kinds = {type(m).__name__ for m in layers}
    assert kinds == {"BottleneckLayer", "LoRALayer", "InvertibleAdapters", "PrefixTuningPool", "PromptTuningLayer",
                     "ReftLayer"}  # fmt: skip
    assert {type(m).__name__ for m in composable} == {"BottleneckLayer", "LoRALayer"}
    # every adapter parameter sits in one of them
    inside = {id(p) for m in layers for p in m.parameters()}
    assert all(id(p) in inside for n, p in model.named_parameters() if any(f".{a}" in n for a in ("bn", "lora")))
