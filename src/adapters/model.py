"""The user-facing model API: ``ModelAdaptersMixin``.

``adapters.init(model)`` mixes this class into the class of a transformers model object, so the model gains
``add_adapter``, ``set_active_adapters``, ``train_adapter``, ``save_adapter``, ... . The mixin is thin: it keeps the
bookkeeping (which adapters exist, which are active) and delegates the work to the method registry
(:mod:`adapters.methods`) and the on-disk format (:mod:`adapters.io`).

transformers 5 puts PEFT-integration methods with the same names on every model (``add_adapter``,
``load_adapter``, ``delete_adapter``, ``active_adapters``). On adapter-enabled models ours take over, deliberately:
they follow the reference ``adapters`` API that this library implements.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ._config_binding import bind_adapters_config
from .architectures.attach import AdapterRuntime, spec_for_model
from .architectures.entry import install_entries
from .architectures.parallel import install_parallel_replication
from .averaging import average_adapter
from .composition import AdapterCompositionBlock, Fuse, MultiTask, Stack, parse_composition
from .configuration import AdapterConfig, ModelAdaptersConfig
from .embeddings import EmbeddingAdaptersMixin
from .errors import (
    AdapterConfigError,
    AdapterExistsError,
    AdapterNameError,
    AdapterNotFoundError,
    CompositionError,
    RoutingError,
    UnsupportedMethodError,
)
from .fusion_api import FusionMixin
from .hub_api import HubMixin
from .invertible_api import InvertibleAdaptersMixin
from .io.atomic import atomic_save
from .io.format import refuse_custom_weights_loaders
from .io.loading import load_adapter
from .io.saving import save_adapter, save_all_adapters
from .methods import method_for_config, method_kinds, registered_methods
from .methods.gating import tag_gate_owners
from .methods.mtl_lora import share_parameters, unshare_parameters
from .methods.prefix_tuning import eject_prefix_tuning
from .summary import adapter_summary

__all__ = ["ModelAdaptersMixin"]

logger = logging.getLogger(__name__)


def _members(config: AdapterConfig) -> tuple[AdapterConfig, ...]:
    return config.members()


def _blocks(setup: AdapterCompositionBlock):
    """Every block in a setup, outermost first."""
    yield setup
    for child in setup:
        if isinstance(child, AdapterCompositionBlock):
            yield from _blocks(child)


# characters adapter names cannot contain: "." separates state-dict key segments, "/" path segments (an adapter is
# saved to <folder>/<name>), "," the adapter names in a fusion's name
RESERVED_NAME_CHARACTERS = (".", "/", ",")


def _check_adapter_name(name: Any, fusions: Iterable[str] = ()) -> None:
    bad = [c for c in RESERVED_NAME_CHARACTERS if isinstance(name, str) and c in name]
    if not isinstance(name, str) or not name or bad or name != name.strip():
        found = f" (it contains {', '.join(map(repr, bad))})" if bad else ""
        raise AdapterNameError(
            f"Invalid adapter name {name!r}{found}: names must be non-empty strings without surrounding spaces and "
            "without '.', '/' or ',' (they become parts of state-dict keys, folder paths and fusion names)."
        )
    if name in fusions:
        raise AdapterNameError(
            f"Invalid adapter name {name!r}: a fusion of this model has that name; choose another name or delete "
            "the fusion first."
        )


class ModelAdaptersMixin(EmbeddingAdaptersMixin, InvertibleAdaptersMixin, FusionMixin, HubMixin):
    """Adapter management for a transformers model (mixed in by :func:`adapters.init`)."""

    adapters_config: ModelAdaptersConfig
    _adapter_runtime: AdapterRuntime

    # set-up ------------------------------------------------------------------------------------------------------
    def _init_adapters(self, adapters_config: ModelAdaptersConfig | None = None) -> None:
        self._adapter_runtime = AdapterRuntime(self, spec_for_model(self))
        install_entries(self._adapter_runtime)
        install_parallel_replication(self._adapter_runtime)
        self._adapter_runtime.route_check = self._check_routing
        self.adapters_config = ModelAdaptersConfig()
        bind_adapters_config(self, self.adapters_config)
        if adapters_config is not None:
            for name in adapters_config:
                self.add_adapter(name, adapters_config.get(name))
            for fusion_name in adapters_config.fusions:
                fusion_config, names = adapters_config.get_fusion(fusion_name)
                self.add_adapter_fusion(names, config=fusion_config, name=fusion_name)

    def set_attn_implementation(self, attn_implementation: Any, *args: Any, **kwargs: Any) -> None:
        """transformers' ``set_attn_implementation``; while prefix tuning hooks this model's attention, the new
        backend is set in its hooked form (``"eager"`` -> ``"adapters_eager"``), so the prefixes keep applying."""
        runtime = self.__dict__.get("_adapter_runtime")
        if runtime is not None:
            attn_implementation = runtime.attention_implementation(attn_implementation)
        return super().set_attn_implementation(attn_implementation, *args, **kwargs)

    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict | None = None, every_n_layers: int = 1, offload: bool = False
    ) -> None:
        """transformers' activation (gradient) checkpointing, made right for adapters: the recompute of a layer runs
        with the record of the call it replays (see docs/architecture.md), and the embeddings' output requires grad
        even when the base model is frozen, so ``use_reentrant=True`` also gives the adapters their gradients
        (transformers does this only for models whose main input is ``input_ids``)."""
        super().activation_checkpointing_enable(
            activation_checkpointing_kwargs, every_n_layers=every_n_layers, offload=offload
        )
        if not getattr(self, "_require_grads_hooks", None):
            self.enable_input_require_grads()
        self._adapter_runtime.prepare_checkpointing()

    # inspection --------------------------------------------------------------------------------------------------
    def has_adapters(self) -> bool:
        """Whether the model has at least one adapter."""
        return len(self.adapters_config.adapters) > 0

    @property
    def has_parallel_adapters(self) -> bool:
        setup = self.active_adapters
        return setup is not None and setup.parallel_channels > 1

    def iter_layers(self) -> Iterator[tuple[int, nn.Module]]:
        """Yield ``(global_index, layer)`` for every transformer layer (encoder layers first, then decoder)."""
        for ref in self._adapter_runtime.iter_layers():
            yield ref.index, ref.module

    def supports_adapter(self, type_or_config: str | AdapterConfig) -> bool:
        """Whether the model supports an adapter method: a method kind (``"bottleneck"``, ``"invertible"``,
        ``"lora"``, ``"prefix_tuning"``, ``"prompt_tuning"``, ``"reft"``: the kinds the registered methods declare),
        a config identifier or string, or a config object. A method kind is checked with the config its method
        names for it."""
        kinds = method_kinds()
        if isinstance(type_or_config, str) and type_or_config in kinds:
            type_or_config = kinds[type_or_config]
        return self._support_problem(AdapterConfig.load(type_or_config)) is None

    def _support_problem(self, config: AdapterConfig) -> str | None:
        for member in _members(config):
            try:
                method = method_for_config(member)
            except UnsupportedMethodError as error:
                return str(error)
            problem = self._adapter_runtime.spec.reason_unsupported(method.name) or method.check_support(
                self._adapter_runtime, member
            )
            if problem is not None:
                return problem
        return None

    def get_adapter(self, name: str) -> dict[int, dict[str, nn.Module]]:
        """The modules of adapter ``name`` as ``{layer_index: {location_key: module}}`` (-1 for global modules);
        ``{}`` if there is no such adapter (as in the reference)."""
        found: dict[int, dict[str, nn.Module]] = {}
        if name not in self.adapters_config:
            return found
        for member in _members(self.adapters_config.get(name)):
            for index, by_location in method_for_config(member).modules(self._adapter_runtime, name).items():
                found.setdefault(index, {}).update(by_location)
        return found

    def _adapter_parameters(self, name: str) -> list[tuple[str, nn.Parameter]]:
        seen: set[int] = set()
        params = []
        for by_location in self.get_adapter(name).values():
            for location, module in by_location.items():
                for param_name, param in module.named_parameters():
                    if id(param) not in seen:
                        seen.add(id(param))
                        params.append((f"{location}.{param_name}", param))
        return params

    def _require_adapter(self, name: str) -> AdapterConfig:
        config = self.adapters_config.get(name) if name in self.adapters_config else None
        if config is None:
            known = ", ".join(sorted(self.adapters_config.adapters)) or "none"
            raise AdapterNotFoundError(f"No adapter named {name!r}. Adapters on this model: {known}.")
        return config

    # add / delete ------------------------------------------------------------------------------------------------
    def add_adapter(
        self,
        adapter_name: str,
        config: Any = None,
        overwrite_ok: bool = False,
        set_active: bool = False,
        tokenizer: Any = None,
        dtype: torch.dtype | str | None = None,
    ) -> None:
        """Add a new adapter ``adapter_name`` built from ``config`` (identifier, config string, dict or object).

        ``config=None`` gives the default ``"seq_bn"``. An existing name raises :class:`AdapterExistsError` unless
        ``overwrite_ok``. If building fails, the model is left exactly as it was. ``tokenizer`` embeds the text of
        prompt tuning's ``prompt_init="from_string"`` (default: a tokenizer saved next to the model). ``dtype``
        (e.g. ``torch.float32``) keeps the adapter's weights in that dtype whatever the model's; by default they take
        the dtype of the module they attach to (docs/precision.md).
        """
        _check_adapter_name(adapter_name, self.adapters_config.fusions)
        config = AdapterConfig.load(config)  # None, "" and {} give None: the default, as in the reference
        config = config if config is not None else AdapterConfig.load("seq_bn")
        self._check_leave_out(adapter_name, config)
        problem = self._support_problem(config)
        if problem is not None:
            raise UnsupportedMethodError(
                f"Cannot add adapter {adapter_name!r} ({type(config).__name__}) to {type(self).__name__}: {problem}."
            )
        if adapter_name in self.adapters_config:
            if not overwrite_ok:
                raise AdapterExistsError(
                    f"An adapter named {adapter_name!r} already exists; pass overwrite_ok=True to replace it or "
                    "choose another name."
                )
            self.delete_adapter(adapter_name)
        runtime = self._adapter_runtime
        added = []
        try:
            with runtime.adding(tokenizer=tokenizer, dtype=dtype):
                for member in _members(config):
                    method = method_for_config(member)
                    added.append(method)  # before add(): delete() also cleans up a partial add
                    method.add(runtime, adapter_name, member)
        except BaseException:
            for method in reversed(added):
                method.delete(runtime, adapter_name)
            raise
        for method in added:  # gated modules record their scores when a call asks for them
            tag_gate_owners(runtime, adapter_name, method.modules(runtime, adapter_name))
        self.adapters_config.add(adapter_name, config=config)
        if set_active:
            self.set_active_adapters(adapter_name)

    def _check_leave_out(self, adapter_name: str, config: AdapterConfig) -> None:
        """Refuse ``leave_out`` indices of layers the model does not have (they would silently do nothing)."""
        count = sum(1 for _ in self._adapter_runtime.iter_layers())
        for member in _members(config):
            if "leave_out" not in member._field_names():
                continue  # e.g. a newer version's key on a config without the field: kept, but ignored
            leave_out = member.leave_out or []
            wrong = [i for i in leave_out if not 0 <= i < count]
            if wrong:
                raise AdapterConfigError(
                    f"Cannot add adapter {adapter_name!r}: leave_out={list(leave_out)} names layer(s) {wrong} that "
                    f"{type(self).__name__} does not have; allowed are global layer indices 0 to {count - 1} "
                    "(encoder layers first, then decoder layers)."
                )

    def delete_adapter(self, adapter_name: str) -> None:
        """Remove adapter ``adapter_name`` and every module it added; the base model is restored exactly.

        Raises:
            AdapterNotFoundError: the model has no adapter of that name (nothing changes).
        """
        config = self._require_adapter(adapter_name)
        self._delete_fusions_of(adapter_name)
        for member in _members(config):
            method_for_config(member).delete(self._adapter_runtime, adapter_name)
        self._adapter_runtime.changed()
        self.adapters_config.remove(adapter_name)
        active = self._adapter_runtime.active_setup
        if active is not None and adapter_name in active.flatten():
            remaining = active.flatten() - {adapter_name}
            self._adapter_runtime.active_setup = None
            if remaining:
                logger.warning(
                    "Deleted adapter %r was part of the active setup %r; no adapters are active now.",
                    adapter_name,
                    active,
                )

    # activation --------------------------------------------------------------------------------------------------
    def set_active_adapters(self, adapter_setup: Any, skip_layers: Iterable[int] | None = None) -> None:
        """Activate an adapter setup for every forward pass (``None`` deactivates all adapters).

        Args:
            adapter_setup: an adapter name, a composition block such as ``Stack("a", "b")``, or ``None``.
            skip_layers: global layer indices whose adapters are bypassed (AdapterDrop).
        """
        setup = parse_composition(adapter_setup, model_type=self.config.model_type)
        if setup is not None:
            missing = sorted(n for n in setup.flatten() if n not in self.adapters_config)
            if missing:
                known = ", ".join(sorted(self.adapters_config.adapters)) or "none"
                raise AdapterNotFoundError(
                    f"Cannot activate {setup!r}: no adapter named {', '.join(map(repr, missing))}. Adapters on this "
                    f"model: {known}."
                )
            self._check_setup_supported(setup)
        self.reset_adapter()  # un-merge LoRA-family adapters first, as the reference does
        self._adapter_runtime.active_setup = setup
        self._adapter_runtime.skip_layers = frozenset(skip_layers) if skip_layers is not None else frozenset()

    def _check_setup_supported(self, setup: AdapterCompositionBlock) -> None:
        """Every block must be supported by the method of every adapter below it; a Fuse needs its fusion layer."""
        for block in _blocks(setup):
            if isinstance(block, Stack) and block is setup:
                continue
            for name in sorted(block.flatten()):
                for member in _members(self.adapters_config.get(name)):
                    method = method_for_config(member)
                    if type(block) not in method.supported_blocks and not isinstance(block, Stack):
                        allowed = ", ".join(sorted(b.__name__ for b in method.supported_blocks)) or "none"
                        raise CompositionError(
                            f"Adapter {name!r} ({method.name}) cannot be used in a {type(block).__name__} block "
                            f"({setup!r}); {method.name} adapters support: {allowed}."
                        )
            if isinstance(block, Fuse) and block.name not in self.adapters_config.fusions:
                raise AdapterNotFoundError(
                    f"No fusion layer {block.name!r} for {block!r}; add it with model.add_adapter_fusion(...) first."
                )

    def _check_routing(self, names: list[str]) -> None:
        """The adapters of a routed call (``adapter_names=``) exist and can route rows (before any computation)."""
        fusions = [n for n in names if n in self.adapters_config.fusions]
        if fusions:
            raise RoutingError(
                f"adapter_names names the fusion {fusions[0]!r}; per-row routing runs one adapter per row, fusion "
                "setups per row are not supported (activate the Fuse with set_active_adapters instead)."
            )
        missing = [n for n in names if n not in self.adapters_config]
        if missing:
            known = ", ".join(sorted(self.adapters_config.adapters)) or "none"
            raise AdapterNotFoundError(
                f"adapter_names names {', '.join(map(repr, missing))}, which this model does not have. Adapters on "
                f"this model: {known}."
            )
        self._check_setup_supported(MultiTask(*names))

    @property
    def active_adapters(self) -> AdapterCompositionBlock | None:
        """The active adapter setup (a composition block) or ``None``."""
        return self._adapter_runtime.active_setup

    @active_adapters.setter
    def active_adapters(self, adapter_setup: Any) -> None:
        self.set_active_adapters(adapter_setup)

    # training ----------------------------------------------------------------------------------------------------
    def freeze_model(self, freeze: bool = True) -> None:
        """Freeze (or unfreeze) every base-model weight; heads outside the base model are not touched."""
        for param in self.base_model.parameters():
            param.requires_grad = not freeze
        self.model_frozen = freeze
        self.base_model.model_frozen = freeze

    def train_adapter(self, adapter_setup: Any, train_embeddings: bool = False) -> None:
        """Prepare to train ``adapter_setup``: freeze the base model, unfreeze those adapters, activate them."""
        setup = parse_composition(adapter_setup, model_type=self.config.model_type)
        if setup is None:
            raise AdapterNotFoundError("train_adapter needs an adapter name or setup, got None.")
        for name in sorted(setup.flatten()):
            self._require_adapter(name)
        self.set_active_adapters(setup)
        self.train()
        self.freeze_model(True)
        for name in setup.flatten():
            for _, param in self._adapter_parameters(name):
                param.requires_grad = True
        if train_embeddings:
            for param in self.get_input_embeddings().parameters():
                param.requires_grad = True

    # device / dtype ----------------------------------------------------------------------------------------------
    def adapter_to(
        self, name: str, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        """Move adapter ``name``'s parameters to ``device`` and/or ``dtype``."""
        self._require_adapter(name)
        for by_location in self.get_adapter(name).values():
            for module in by_location.values():
                module.to(device=device, dtype=dtype)

    # summary -----------------------------------------------------------------------------------------------------
    def adapter_summary(self, as_dict: bool = False) -> str | list[dict[str, Any]]:
        """A table of all adapters: name, architecture, #param, %param, active, train (as the reference)."""
        return adapter_summary(self, as_dict=as_dict)

    # saving and loading ------------------------------------------------------------------------------------------
    @atomic_save()
    def save_adapter(
        self,
        save_directory: str,
        adapter_name: str,
        meta_dict: dict | None = None,
        custom_weights_loaders: Any = None,
        use_safetensors: bool = True,
        model_card: bool | dict | None = None,
    ) -> None:
        """Save adapter ``adapter_name`` (config and weights) to ``save_directory`` in the reference format.

        ``model_card=True`` (or a dict of card arguments, see ``save_adapter_card``) also writes a README.md.
        """
        refuse_custom_weights_loaders(custom_weights_loaders, "save_adapter")
        save_adapter(self, save_directory, adapter_name, meta_dict=meta_dict, use_safetensors=use_safetensors)
        if model_card:
            card_kwargs = model_card if isinstance(model_card, dict) else {}
            self.save_adapter_card(save_directory, adapter_name, **card_kwargs)

    @atomic_save()
    def save_all_adapters(
        self,
        save_directory: str,
        meta_dict: dict | None = None,
        custom_weights_loaders: Any = None,
        use_safetensors: bool = True,
        **kwargs: Any,
    ) -> None:
        """Save every adapter to ``save_directory/<name>`` (``with_head=`` is passed on where heads exist)."""
        refuse_custom_weights_loaders(custom_weights_loaders, "save_all_adapters")
        save_all_adapters(self, save_directory, meta_dict=meta_dict, use_safetensors=use_safetensors, **kwargs)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' ``save_pretrained``, written as one unit (docs/errors.md#saves-are-all-or-nothing): a
        failing or killed save leaves an existing folder as it was."""
        if kwargs.get("push_to_hub"):  # transformers derives the repo name from the folder name
            return super().save_pretrained(save_directory, *args, **kwargs)
        return self._save_pretrained_atomic(save_directory, *args, **kwargs)

    @atomic_save(link_existing=False)  # transformers may rewrite existing files in place
    def _save_pretrained_atomic(self, save_directory, *args, **kwargs):
        return super().save_pretrained(save_directory, *args, **kwargs)

    def load_adapter(
        self,
        adapter_name_or_path: str,
        config: Any = None,
        version: str | None = None,
        model_name: str | None = None,
        load_as: str | None = None,
        custom_weights_loaders: Any = None,
        leave_out: list[int] | None = None,
        id2label: Any = None,
        set_active: bool = False,
        use_safetensors: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """Load an adapter and return its name in the model (``load_as`` or the saved name).

        ``adapter_name_or_path`` is looked up in this order (docs/sharing.md): a local folder, an http(s) URL of a
        zip/tar archive or folder (downloaded once into ``ADAPTER_CACHE``), a Hugging Face Hub repo id (``version``
        is the revision; ``cache_dir=`` and offline mode are honoured), a legacy AdapterHub identifier such as
        ``"sentiment/sst-2@ukp"``. A PEFT LoRA, DoRA or (IA)³ checkpoint is converted on load. ``config`` and
        ``model_name`` are deprecated: they only select adapters of the AdapterHub index (elsewhere they raise).
        ``loading_info={}`` as a keyword receives ``missing_keys`` and ``unexpected_keys``; ``dtype=`` keeps the
        weights of the added adapter in that dtype (as in ``add_adapter``). Safetensors files are
        preferred when a folder has both formats; ``.bin`` files are read with ``torch.load(weights_only=True)``.
        On failure the model is left exactly as it was.
        """
        refuse_custom_weights_loaders(custom_weights_loaders, "load_adapter")
        return load_adapter(
            self,
            adapter_name_or_path,
            config=config,
            model_name=model_name,
            version=version,
            load_as=load_as,
            leave_out=leave_out,
            set_active=set_active,
            use_safetensors=use_safetensors,
            **kwargs,
        )

    # ----------------------------------------------------------------------------------------------------------------
    # LoRA family: merging, averaging, parameter sharing
    # ----------------------------------------------------------------------------------------------------------------
    def merge_adapter(self, name: str) -> None:
        """Fold adapter ``name`` into the weights of the layers it adapts (``reset_adapter`` undoes it).

        While merged, those layers run as plain linear layers (the adapter is applied through the weights whatever
        the active setup); ``set_active_adapters`` un-merges first. Only one adapter can be merged per layer. The
        methods that can merge say so in the registry (the LoRA family).

        Raises:
            UnsupportedMethodError: no part of ``name`` can be merged, it uses gating, or it adapts quantized
                (bitsandbytes) layers.
            CompositionError: another adapter is merged into the same layers.
        """
        config = self._require_adapter(name)
        methods = [method_for_config(member) for member in _members(config)]
        mergeable = [method for method in methods if method.merge is not None]
        if not mergeable:
            allowed = sorted({m.name for m in registered_methods() if m.merge is not None})
            raise UnsupportedMethodError(
                f"merge_adapter works for adapters of the methods {allowed}; {name!r} is a {type(config).__name__} "
                f"({', '.join(m.name for m in methods)})."
            )
        for method in mergeable:
            method.merge(self._adapter_runtime, name)

    def eject_prefix_tuning(self, name: str) -> None:
        """Turn prefix-tuning adapter ``name`` into its flat form (the MLP is evaluated once and dropped; outputs
        stay the same; the adapter's config becomes ``flat=True``)."""
        eject_prefix_tuning(self, name)

    def reset_adapter(self) -> None:
        """Undo ``merge_adapter``: restore the original weights exactly."""
        for method in registered_methods():
            if method.reset is not None:
                method.reset(self._adapter_runtime)

    def average_adapter(
        self,
        adapter_name: str,
        adapter_list: list[str] | dict[str, float],
        weights: list[float] | None = None,
        combine_strategy: str = "linear",
        normalize_weights: bool = True,
        overwrite_ok: bool = False,
        set_active: bool = False,
        svd_rank: int | None = None,
    ) -> None:
        """Add ``adapter_name`` as a weighted combination of the adapters in ``adapter_list``.

        Strategies: ``"linear"`` (every method: weighted parameters), ``"lora_linear_only_negate_b"`` and
        ``"lora_delta_w_svd"`` (LoRA; the latter needs ``svd_rank``). Weights default to equal; given weights are
        normalized to sum 1 unless ``normalize_weights=False``; negative weights are allowed.
        """
        average_adapter(
            self,
            adapter_name,
            adapter_list,
            weights=weights,
            combine_strategy=combine_strategy,
            normalize_weights=normalize_weights,
            overwrite_ok=overwrite_ok,
            set_active=set_active,
            svd_rank=svd_rank,
        )

    def share_parameters(
        self, adapter_names: Any, name: str | None = None, reference_adapter_name: str | None = None
    ) -> None:
        """Share ``lora_A``/``lora_B`` between multi-task (MTL-LoRA) adapters: a ``MultiTask`` block, a list of
        names or a comma-separated string; values start as ``reference_adapter_name``'s (default: the first)."""
        share_parameters(self, adapter_names, name=name, reference_adapter_name=reference_adapter_name)

    def unshare_parameters(self, adapter_names: Any, name: str | None = None) -> None:
        """Give the adapters of a sharing group their own copies of the shared parameters again."""
        unshare_parameters(self, adapter_names, name=name)
