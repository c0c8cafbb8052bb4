"""Every config class and identifier: documented defaults, maps, round trips, class resolution, quirk fixes."""

import json

import pytest

import adapters.configuration as configuration
from adapters.configuration import (
    ADAPTER_CONFIG_MAP,
    ADAPTERFUSION_CONFIG_MAP,
    DEFAULT_ADAPTER_CONFIG,
    DEFAULT_ADAPTERFUSION_CONFIG,
    AdapterConfig,
    AdapterFusionConfig,
    AdapterPlusConfig,
    BnConfig,
    CompacterConfig,
    CompacterPlusPlusConfig,
    ConfigUnion,
    DiReftConfig,
    DoRAConfig,
    DoubleSeqBnConfig,
    DoubleSeqBnInvConfig,
    DvoRAConfig,
    DynamicAdapterFusionConfig,
    IA3Config,
    LoRAConfig,
    LoReftConfig,
    MAMConfig,
    MTLLoRAConfig,
    MultiTaskConfig,
    NoReftConfig,
    ParBnConfig,
    PrefixTuningConfig,
    PromptTuningConfig,
    ReftConfig,
    SeqBnConfig,
    SeqBnInvConfig,
    StaticAdapterFusionConfig,
    UniPELTConfig,
    VeraConfig,
)

BN_DEFAULTS = {
    "original_ln_before": False,
    "original_ln_after": True,
    "ln_before": False,
    "ln_after": False,
    "init_weights": "bert",
    "init_weights_seed": None,
    "is_parallel": False,
    "scaling": 1.0,
    "use_gating": False,
    "residual_before_ln": True,
    "adapter_residual_before_ln": False,
    "inv_adapter": None,
    "inv_adapter_reduction_factor": None,
    "cross_adapter": False,
    "leave_out": [],
    "dropout": 0.0,
    "phm_layer": False,
    "phm_dim": 4,
    "factorized_phm_W": True,
    "shared_W_phm": False,
    "shared_phm_rule": True,
    "factorized_phm_rule": False,
    "phm_c_init": "normal",
    "phm_init_range": 0.0001,
    "learn_phm": True,
    "hypercomplex_nonlinearity": "glorot-uniform",
    "phm_rank": 1,
    "phm_bias": True,
    "stochastic_depth": 0.0,
}
SEQ_BN = dict(
    BN_DEFAULTS,
    original_ln_before=True,
    mh_adapter=False,
    output_adapter=True,
    non_linearity="relu",
    reduction_factor=16,
)
DOUBLE_SEQ_BN = dict(BN_DEFAULTS, mh_adapter=True, output_adapter=True, non_linearity="swish", reduction_factor=16)
PAR_BN = dict(
    BN_DEFAULTS,
    mh_adapter=False,
    output_adapter=True,
    non_linearity="relu",
    reduction_factor=2,
    init_weights="mam_adapter",
    is_parallel=True,
    scaling=4.0,
)
PREFIX = {
    "architecture": "prefix_tuning",
    "encoder_prefix": True,
    "cross_prefix": True,
    "leave_out": [],
    "flat": False,
    "prefix_length": 30,
    "bottleneck_size": 512,
    "non_linearity": "tanh",
    "dropout": 0.0,
    "use_gating": False,
    "shared_gating": True,
    "init_weights_seed": None,
    "shift_relative_positions": False,
}
LORA = {
    "architecture": "lora",
    "selfattn_lora": True,
    "intermediate_lora": False,
    "output_lora": False,
    "leave_out": [],
    "r": 8,
    "alpha": 8,
    "dropout": 0.0,
    "attn_matrices": ["q", "v"],
    "composition_mode": "add",
    "init_weights": "lora",
    "init_weights_seed": None,
    "use_gating": False,
    "use_dora": False,
    "dora_unscaled_bias": False,  # not in the reference: PEFT-style DoRA bias (see LoRAConfig)
    "vera_d": None,
    "vera_b": None,
    "dtype": None,
}
VERA = dict(LORA, r=8, vera_d=0.1, vera_b=0.0, init_weights="vera", composition_mode="add")
NOREFT = {
    "architecture": "reft",
    "layers": "all",
    "prefix_positions": 3,
    "suffix_positions": 0,
    "r": 1,
    "orthogonality": False,
    "tied_weights": False,
    "dropout": 0.05,
    "non_linearity": None,
    "dtype": None,
    "output_reft": True,
    "init_weights_seed": None,
    "subtract_projection": True,
}

EXPECTED = {
    "pfeiffer": (SeqBnConfig, SEQ_BN),
    "houlsby": (DoubleSeqBnConfig, DOUBLE_SEQ_BN),
    "parallel": (ParBnConfig, PAR_BN),
    "scaled_parallel": (ParBnConfig, dict(PAR_BN, scaling="learned")),
    "pfeiffer+inv": (SeqBnInvConfig, dict(SEQ_BN, inv_adapter="nice", inv_adapter_reduction_factor=2)),
    "houlsby+inv": (DoubleSeqBnInvConfig, dict(DOUBLE_SEQ_BN, inv_adapter="nice", inv_adapter_reduction_factor=2)),
    "seq_bn": (SeqBnConfig, SEQ_BN),
    "double_seq_bn": (DoubleSeqBnConfig, DOUBLE_SEQ_BN),
    "par_bn": (ParBnConfig, PAR_BN),
    "scaled_par_bn": (ParBnConfig, dict(PAR_BN, scaling="learned")),
    "seq_bn_inv": (SeqBnInvConfig, dict(SEQ_BN, inv_adapter="nice", inv_adapter_reduction_factor=2)),
    "double_seq_bn_inv": (
        DoubleSeqBnInvConfig,
        dict(DOUBLE_SEQ_BN, inv_adapter="nice", inv_adapter_reduction_factor=2),
    ),
    "compacter++": (CompacterPlusPlusConfig, dict(SEQ_BN, phm_layer=True, reduction_factor=32, non_linearity="gelu")),
    "compacter": (CompacterConfig, dict(DOUBLE_SEQ_BN, phm_layer=True, reduction_factor=32, non_linearity="gelu")),
    "prefix_tuning": (PrefixTuningConfig, PREFIX),
    "prefix_tuning_flat": (PrefixTuningConfig, dict(PREFIX, flat=True)),
    "prompt_tuning": (
        PromptTuningConfig,
        {
            "architecture": "prompt_tuning",
            "prompt_length": 10,
            "prompt_init": "random_uniform",
            "prompt_init_text": None,
            "combine": "prefix",
            "init_weights_seed": None,
            "random_uniform_scale": 0.5,
        },
    ),
    "mtl_lora": (
        MTLLoRAConfig,
        dict(
            LORA,
            architecture="mtl_lora",
            n_up_projection=1,
            task_specific_matrix_type="singular_values",
            weights_sharpness=0.05,
        ),
    ),
    "lora": (LoRAConfig, LORA),
    "ia3": (
        IA3Config,
        dict(
            LORA,
            intermediate_lora=True,
            r=1,
            alpha=1,
            attn_matrices=["k", "v"],
            composition_mode="scale",
            init_weights="ia3",
        ),
    ),
    "vera": (VeraConfig, VERA),
    "dora": (DoRAConfig, dict(LORA, use_dora=True)),
    "dvora": (DvoRAConfig, dict(VERA, use_dora=True, alpha=8)),
    "loreft": (LoReftConfig, dict(NOREFT, orthogonality=True)),
    "noreft": (NoReftConfig, NOREFT),
    "direft": (DiReftConfig, dict(NOREFT, subtract_projection=False)),
    "mam": (
        MAMConfig,
        {"architecture": "union", "configs": [dict(PREFIX, bottleneck_size=800), PAR_BN]},
    ),
    "unipelt": (
        UniPELTConfig,
        {
            "architecture": "union",
            "configs": [
                dict(PREFIX, prefix_length=10, use_gating=True),
                dict(SEQ_BN, use_gating=True),
                dict(LORA, r=8, alpha=2, use_gating=True),
            ],
        },
    ),
}

ALL_CLASSES = [
    BnConfig, SeqBnConfig, SeqBnInvConfig, DoubleSeqBnConfig, DoubleSeqBnInvConfig, ParBnConfig, CompacterConfig,
    CompacterPlusPlusConfig, AdapterPlusConfig, PrefixTuningConfig, PromptTuningConfig, LoRAConfig, IA3Config,
    VeraConfig, DoRAConfig, DvoRAConfig, MTLLoRAConfig, ReftConfig, LoReftConfig, NoReftConfig, DiReftConfig,
    ConfigUnion, MAMConfig, UniPELTConfig, AdapterFusionConfig, StaticAdapterFusionConfig, DynamicAdapterFusionConfig,
]  # fmt: skip


def test_identifier_map_order_and_defaults():
    assert list(ADAPTER_CONFIG_MAP) == list(EXPECTED)
    assert len(ADAPTER_CONFIG_MAP) == 28
    assert DEFAULT_ADAPTER_CONFIG == "seq_bn"
    assert list(ADAPTERFUSION_CONFIG_MAP) == ["static", "dynamic"]
    assert DEFAULT_ADAPTERFUSION_CONFIG == "dynamic"


@pytest.mark.parametrize("identifier", list(EXPECTED))
def test_identifier_loads_documented_defaults(identifier):
    cls, expected = EXPECTED[identifier]
    config = AdapterConfig.load(identifier)
    assert type(config) is cls
    assert config.to_dict() == expected
    assert json.loads(json.dumps(config.to_dict())) == expected  # JSON-serializable as is


def test_class_architectures():
    expected = {
        BnConfig: None, SeqBnConfig: None, ParBnConfig: None, AdapterPlusConfig: None,
        PrefixTuningConfig: "prefix_tuning", PromptTuningConfig: "prompt_tuning", LoRAConfig: "lora",
        IA3Config: "lora", VeraConfig: "lora", DoRAConfig: "lora", DvoRAConfig: "lora", MTLLoRAConfig: "mtl_lora",
        ReftConfig: "reft", DiReftConfig: "reft", ConfigUnion: "union", MAMConfig: "union", UniPELTConfig: "union",
    }  # fmt: skip
    assert {cls: cls.architecture for cls in expected} == expected


def test_adapter_plus_defaults():
    config = AdapterPlusConfig()
    overrides = {
        "original_ln_after": False,
        "original_ln_before": True,
        "residual_before_ln": False,
        "stochastic_depth": 0.1,
        "init_weights": "houlsby",
        "scaling": "channel",
        "mh_adapter": False,
        "output_adapter": True,
        "reduction_factor": 96,
        "non_linearity": "gelu",
    }
    assert config.to_dict() == {**BN_DEFAULTS, **overrides}
    assert "AdapterPlusConfig" not in {type(c).__name__ for c in ADAPTER_CONFIG_MAP.values()}


def test_fusion_presets():
    static, dynamic = StaticAdapterFusionConfig(), DynamicAdapterFusionConfig()
    assert {"static": static, "dynamic": dynamic} == ADAPTERFUSION_CONFIG_MAP
    assert (static.value, static.regularization, static.value_initialized) == (False, False, False)
    assert (dynamic.value, dynamic.regularization, dynamic.value_initialized) == (True, True, True)
    assert AdapterFusionConfig(**static.to_dict()) == static


def test_multitask_names():
    assert issubclass(MTLLoRAConfig, MultiTaskConfig) and issubclass(MTLLoRAConfig, LoRAConfig)
    assert isinstance(ADAPTER_CONFIG_MAP["mtl_lora"], MultiTaskConfig)
    assert not isinstance(LoRAConfig(), MultiTaskConfig)


def test_public_names():
    expected = {cls.__name__ for cls in ALL_CLASSES} | {
        "AdapterConfig", "MultiTaskConfig", "ModelAdaptersConfig", "ADAPTER_CONFIG_MAP", "ADAPTERFUSION_CONFIG_MAP",
        "DEFAULT_ADAPTER_CONFIG", "DEFAULT_ADAPTERFUSION_CONFIG", "get_adapter_config_hash", "migrate_saved_config",
    }  # fmt: skip
    assert expected <= set(configuration.__all__)
    assert all(hasattr(configuration, name) for name in configuration.__all__)


# ---------------------------------------------------------------------------------------------------- round trips


def _instances():
    reft_kwargs = {"layers": [0, 2], "prefix_positions": 2, "suffix_positions": 1, "r": 2, "orthogonality": True}
    custom = [
        BnConfig(mh_adapter=True, output_adapter=False, reduction_factor=8, non_linearity="relu"),
        ReftConfig(**reft_kwargs),
        AdapterFusionConfig(**dict(DynamicAdapterFusionConfig().to_dict(), temperature=True)),
        ConfigUnion(LoRAConfig(r=4), PrefixTuningConfig(prefix_length=4)),
        AdapterPlusConfig(),
        StaticAdapterFusionConfig(),
        DynamicAdapterFusionConfig(),
    ]
    return list(ADAPTER_CONFIG_MAP.values()) + custom


@pytest.mark.parametrize("config", _instances(), ids=lambda c: type(c).__name__)
def test_to_dict_from_dict_round_trip(config):
    data = json.loads(json.dumps(config.to_dict()))
    root = AdapterFusionConfig if isinstance(config, AdapterFusionConfig) else AdapterConfig
    loaded = root.load(data)
    assert loaded == config
    assert loaded.to_dict() == data
    assert isinstance(loaded, type(config))
    if type(config) not in (BnConfig, ReftConfig, AdapterFusionConfig):  # classes with required fields: see below
        assert type(loaded) is type(config)
    assert type(type(config).from_dict(data)) is type(config)


def test_classes_with_required_fields_reload_as_nearest_preset():
    bn = BnConfig(mh_adapter=True, output_adapter=False, reduction_factor=8, non_linearity="swish")
    assert type(AdapterConfig.load(bn.to_dict())) is DoubleSeqBnConfig
    fusion = AdapterFusionConfig(**dict(StaticAdapterFusionConfig().to_dict(), dropout_prob=0.1))
    assert type(AdapterFusionConfig.load(fusion.to_dict())) is StaticAdapterFusionConfig


@pytest.mark.parametrize("cls", [c for c in ALL_CLASSES if c not in (BnConfig, ReftConfig, AdapterFusionConfig)])
def test_every_default_instance_reloads_as_its_class(cls):
    config = ConfigUnion(LoRAConfig()) if cls is ConfigUnion else cls()
    root = AdapterFusionConfig if issubclass(cls, AdapterFusionConfig) else AdapterConfig
    assert type(root.load(config.to_dict())) is cls


def test_required_field_classes_round_trip_by_value():
    config = ReftConfig(layers=[0, 2], prefix_positions=2, suffix_positions=1, r=2, orthogonality=True)
    loaded = AdapterConfig.load(config.to_dict())
    assert isinstance(loaded, ReftConfig) and loaded == config
    assert type(ReftConfig.from_dict(config.to_dict())) is ReftConfig


# ---------------------------------------------------------------------------------------------------- class resolution


def test_resolution_picks_fewest_differences():
    assert type(AdapterConfig.load(IA3Config(dropout=0.1).to_dict())) is IA3Config
    assert type(AdapterConfig.load(VeraConfig(r=4).to_dict())) is VeraConfig
    assert type(AdapterConfig.load(DoRAConfig(r=16, alpha=32).to_dict())) is DoRAConfig
    assert type(AdapterConfig.load(DvoRAConfig(dropout=0.2).to_dict())) is DvoRAConfig
    assert type(AdapterConfig.load(ParBnConfig(reduction_factor=8).to_dict())) is ParBnConfig
    assert type(AdapterConfig.load(DiReftConfig(r=2).to_dict())) is DiReftConfig
    assert type(AdapterConfig.load(LoRAConfig(use_dora=True).to_dict())) is DoRAConfig  # same values as DoRA


def test_resolution_tie_prefers_general_class():
    # Without "use_dora", this dict differs from LoRAConfig and DoRAConfig defaults in one field (r) each.
    data = LoRAConfig(r=4).to_dict()
    del data["use_dora"]
    assert type(AdapterConfig.load(data)) is LoRAConfig


def test_resolution_with_missing_keys_uses_class_defaults():
    config = AdapterConfig.load({"architecture": "lora", "r": 1, "alpha": 1, "composition_mode": "scale"})
    assert type(config) is IA3Config and config.init_weights == "ia3"


def test_union_members_reload_as_their_classes():
    union = ConfigUnion(IA3Config(), ParBnConfig(), PromptTuningConfig())
    loaded = AdapterConfig.load(union.to_dict())
    assert type(loaded) is ConfigUnion
    assert [type(c) for c in loaded.configs] == [IA3Config, ParBnConfig, PromptTuningConfig]


def test_union_presets_reload_structurally():
    modified = MAMConfig(adapter=ParBnConfig(reduction_factor=4))
    loaded = AdapterConfig.load(modified.to_dict())
    assert type(loaded) is MAMConfig and loaded.adapter.reduction_factor == 4
    not_gated = ConfigUnion(PrefixTuningConfig(), SeqBnConfig(), LoRAConfig())
    assert type(AdapterConfig.load(not_gated.to_dict())) is ConfigUnion


# ---------------------------------------------------------------------------------------------------- quirk fixes


def test_direft_subtract_projection_is_a_serialized_field():
    assert ReftConfig.__dataclass_fields__["subtract_projection"].default is True
    assert DiReftConfig().subtract_projection is False
    assert DiReftConfig().to_dict()["subtract_projection"] is False
    config = ReftConfig(layers="all", prefix_positions=3, suffix_positions=0, r=1, orthogonality=False,
                        subtract_projection=False)  # fmt: skip
    assert config.subtract_projection is False
    assert AdapterConfig.load(config.to_dict()) == DiReftConfig()
    assert type(AdapterConfig.load(config.to_dict())) is DiReftConfig
    assert AdapterConfig.load("loreft[subtract_projection=False]").subtract_projection is False


def test_prompt_random_uniform_scale_is_a_serialized_field():
    config = PromptTuningConfig(random_uniform_scale=0.1)
    assert config.to_dict()["random_uniform_scale"] == 0.1
    assert AdapterConfig.load(config.to_dict()).random_uniform_scale == 0.1
    assert AdapterConfig.load("prompt_tuning[random_uniform_scale=0.25]").random_uniform_scale == 0.25


def test_reference_files_without_new_fields_load_with_defaults():
    reft = {k: v for k, v in NoReftConfig().to_dict().items() if k != "subtract_projection"}
    assert AdapterConfig.load(reft).subtract_projection is True
    prompt = {k: v for k, v in PromptTuningConfig().to_dict().items() if k != "random_uniform_scale"}
    assert AdapterConfig.load(prompt) == PromptTuningConfig()


def test_v1_invertible_adapter_key():
    data = {k: v for k, v in SeqBnConfig().to_dict().items() if not k.startswith("inv_")}
    data["invertible_adapter"] = {"block_type": "nice", "non_linearity": "relu", "reduction_factor": 2}
    config = AdapterConfig.load(data)
    assert type(config) is SeqBnInvConfig
    assert (config.inv_adapter, config.inv_adapter_reduction_factor) == ("nice", 2)
    assert "invertible_adapter" not in config.to_dict() and config.extra_keys == ()
    data["invertible_adapter"] = None
    assert type(AdapterConfig.load(data)) is SeqBnConfig
