"""Resolve an :class:`ArchitectureSpec` on a live model and manage what methods attach to it.

The :class:`AdapterRuntime` is created once per adapter-enabled model. It knows the model's layers (with the
reference's global indices: encoder layers first, then decoder layers), resolves dotted paths, creates the small
holder modules that adapters live in (so their state-dict keys match the reference), and answers "which setup is
active for layer i" for the hooks, taking ``AdapterSetup`` contexts and AdapterDrop's ``skip_layers`` into account.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

from ..composition import AdapterCompositionBlock
from ..context import current_setup, entered_call, left_call
from .attention import (
    AttentionCall,
    add_attention_hook,
    attention_hooks,
    hooked_implementation,
    remove_attention_hook,
)
from .call import FORWARD_OPTIONS, AdapterCall
from .paths import resolve_path
from .routing import RouteCheck, route
from .spec import ArchitectureSpec, LayerGroup

__all__ = [
    "AdapterRuntime",
    "LayerRef",
    "resolve_path",
    "HolderModule",
    "spec_for_model",
    "HOOK_COMPUTE",
    "HOOK_CONSUME",
    "HOOK_EXIT",
    "ENTRY",
    "INPUT_REPLICATE",
    "INPUT_REWRITE",
    "INPUT_CAPTURE",
]

# Order of our forward hooks on one module (lower runs first; transformers' own hooks run after ours):
HOOK_COMPUTE = 0  # the hook completes the module's own computation (LoRA adds its update to a Linear's output)
HOOK_CONSUME = 1  # the hook uses or rewrites the finished output (bottleneck adapters reading a sub-block's output)
HOOK_EXIT = 9  # the end of a call at a model entry: runs after every other hook, also when the forward raised

# Order of our forward pre-hooks on the base model (lower runs first):
ENTRY = -2  # the call's record is made (adapters.architectures.entry)
INPUT_REPLICATE = -1  # Parallel replicates the batch (adapters.architectures.parallel)
INPUT_REWRITE = 0  # the hook changes the forward arguments (prompt tuning extends the attention mask)
INPUT_CAPTURE = 1  # the hook reads the final arguments (ReFT reads the attention mask)

_REPLAYS_CALL = "_adapters_replays_call"


@contextlib.contextmanager
def _thread_value(local: threading.local, name: str, value: Any, default: Any) -> Iterator[None]:
    """Set attribute ``name`` of the per-thread ``local`` inside the block; restore the previous value after."""
    previous = getattr(local, name, default)
    setattr(local, name, value)
    try:
        yield
    finally:
        setattr(local, name, previous)


def _checkpoint_with_call(runtime: AdapterRuntime, checkpoint: Callable) -> Callable:
    """``checkpoint`` (a gradient-checkpointing function ``f(function, *args, **kwargs)``) whose ``function`` runs
    with the record of the call that was in progress when the layer ran, in the forward and in the recompute."""

    def checkpoint_with_call(function: Callable, *args: Any, **kwargs: Any):
        call = runtime.current()

        def replay(*replay_args: Any, **replay_kwargs: Any):
            with runtime.bound(call):
                return function(*replay_args, **replay_kwargs)

        return checkpoint(replay, *args, **kwargs)

    setattr(checkpoint_with_call, _REPLAYS_CALL, True)
    checkpoint_with_call.__wrapped__ = checkpoint
    return checkpoint_with_call


def _warn_changed_during_call() -> None:
    warnings.warn(
        "The model's adapters changed while a forward call was running (hooks were added or removed by another "
        "thread, or between a gradient-checkpointed forward and its backward); the call uses the adapters there are "
        "now. Change the model only while no call runs on it.",
        RuntimeWarning,
        stacklevel=3,
    )


class HolderModule(nn.Module):
    """An empty container module created only so adapter keys follow the reference layout (never called)."""

    def forward(self, *args, **kwargs):  # pragma: no cover - holders are never called
        raise RuntimeError("HolderModule only stores adapter modules and is never called.")


@dataclass(frozen=True)
class LayerRef:
    """One transformer layer: its global index, the module, its group and its path below the base model."""

    index: int
    module: nn.Module
    group: LayerGroup
    path: str


def spec_for_model(model: nn.Module) -> ArchitectureSpec:
    """The spec of the model's family (see :mod:`adapters.architectures.resolve`); :class:`UnsupportedModelError`
    names the model type and what could not be found otherwise."""
    from .resolve import resolve_spec

    return resolve_spec(model)


class AdapterRuntime:
    """Per-model state shared by all hooks: the layers, the active setup, AdapterDrop layers, and the record of the
    forward call in progress on each thread (:meth:`current`)."""

    def __init__(self, model: nn.Module, spec: ArchitectureSpec):
        self.spec = spec
        self.active_setup: AdapterCompositionBlock | None = None
        self.skip_layers: frozenset[int] = frozenset()
        # bumped whenever hooks are added or removed: compiled graphs read it, so they re-trace instead of going stale
        self.version = 0
        self._hook_order: dict[int, int] = {}
        self._input_hook_order: dict[int, int] = {}
        self._attention_configs: dict[int, tuple[Any, str, set[int]]] = {}
        self._local = threading.local()
        base = model.base_model
        self.__dict__["_base_model"] = base
        self.__dict__["_model"] = model
        # options of the add_adapter call in progress (see ``adding``)
        self.add_options: dict[str, Any] = {}
        # checks the adapter names of a routed call (adapter_names=...); registered by the model
        self.route_check: RouteCheck | None = None
        self.layers: list[LayerRef] = []
        for group in spec.layer_groups:
            container, container_path = resolve_path(base, group.path)
            for offset, layer in enumerate(container):
                self.layers.append(LayerRef(len(self.layers), layer, group, f"{container_path}.{offset}"))
        self._checkpointable = [m for m in base.modules() if hasattr(m, "gradient_checkpointing")]

    @property
    def base_model(self) -> nn.Module:
        return self.__dict__["_base_model"]

    @property
    def model(self) -> nn.Module:
        """The top-level model object that ``adapters.init`` (or an AdapterModel class) enabled."""
        return self.__dict__["_model"]

    # the call in progress ----------------------------------------------------------------------------------------
    def current(self) -> AdapterCall | None:
        """The record of the forward call in progress on this thread, or ``None`` outside any call.

        Compiled code guards on the comparison of the call's structure version with the model's: dynamo does not
        guard on module hooks, so without it a graph traced before an adapter was replaced (same name and setup,
        hooks at other places) would keep running the old hooks. Eagerly, a difference means that hooks were
        added or removed after the call began (by another thread, or between a gradient-checkpointed forward and
        its ``backward``); the call goes on with the hooks there are now, after a warning.
        """
        call = getattr(self._local, "call", None)
        if call is not None and call.version != self.version:
            _warn_changed_during_call()
        return call

    def new_call(self, options: dict[str, Any], batch: int | None = None) -> AdapterCall:
        """The record of a new call: the ``AdapterSetup`` block's setup (else the active one) and ``options`` (the
        call's keyword arguments listed in :data:`~adapters.architectures.call.CALL_KWARGS`). With
        ``adapter_names`` the setup routes rows (:mod:`adapters.architectures.routing`; ``batch``: the call's batch
        size, checked against the names)."""
        context = current_setup()
        if context is not None:
            skip = self.skip_layers if context.skip_layers is None else frozenset(context.skip_layers)
            setup, head_setup, from_context = context.adapter_setup, context.head_setup, True
        else:
            setup, skip, head_setup, from_context = self.active_setup, self.skip_layers, None, False
        fields: dict[str, Any] = {"setup": setup, "task_ids": options.get("task_ids")}
        names = options.get("adapter_names")
        names = getattr(self._local, "routing", None) if names is None else names
        if names is not None:
            fields = route(names, batch, self.route_check)
            head_setup, from_context = None, False
        return AdapterCall(
            skip_layers=skip,
            head_setup=head_setup,
            from_context=from_context,
            options=frozenset(k for k in FORWARD_OPTIONS if options.get(k)),
            replicated=getattr(self._local, "replicated", False),
            version=self.version,
            **fields,
        )

    @contextlib.contextmanager
    def bound(self, call: AdapterCall | None) -> Iterator[None]:
        """Make ``call`` the call in progress on this thread inside the block (a gradient-checkpointing recompute
        re-binds the record of the forward it replays)."""
        with _thread_value(self._local, "call", call, None):
            entered_call(call)
            try:
                yield
            finally:
                left_call(call)

    @contextlib.contextmanager
    def routing(self, adapter_names: tuple[str | None, ...]) -> Iterator[None]:
        """Inside the block, calls on this thread route rows by ``adapter_names`` (``generate()``)."""
        with _thread_value(self._local, "routing", adapter_names, None):
            yield

    @contextlib.contextmanager
    def replicated_inputs(self) -> Iterator[None]:
        """Inside the block, calls on this thread get inputs already replicated for ``Parallel`` (generation)."""
        with _thread_value(self._local, "replicated", True, False):
            yield

    def prepare_checkpointing(self) -> None:
        """Wrap the gradient-checkpointing function of every checkpointable module (once per function) so that the
        recompute during ``backward`` runs with the record of the forward call it replays."""
        for module in self._checkpointable:
            function = module.__dict__.get("_gradient_checkpointing_func")
            if function is not None and not getattr(function, _REPLAYS_CALL, False):
                module._gradient_checkpointing_func = _checkpoint_with_call(self, function)

    # structure ------------------------------------------------------------------------------------------------
    def changed(self) -> None:
        """Note a change of hooks or adapters (compiled graphs re-trace on their next call)."""
        self.version += 1

    @contextlib.contextmanager
    def adding(self, **options: Any) -> Iterator[None]:
        """Make ``options`` visible to the methods' ``add`` functions (``runtime.add_options``) inside the block:
        ``tokenizer`` (prompt tuning's ``from_string``), ``loading`` (weights are loaded right after adding, so
        initialisations that need extra inputs may be skipped)."""
        previous = self.add_options
        self.add_options = {**previous, **{k: v for k, v in options.items() if v is not None}}
        try:
            yield
        finally:
            self.add_options = previous
            self.changed()

    def register_input_hook(self, hook: Callable[..., Any], order: int, module: nn.Module | None = None):
        """Register a ``forward_pre_hook(with_kwargs=True)`` on the base model (or ``module``), ordered by ``order``.

        ``ENTRY`` hooks run first, then ``INPUT_REWRITE`` hooks (which change the arguments), then ``INPUT_CAPTURE``
        hooks (which read them), whatever the order of registration. Remove it with :meth:`remove_hook`.
        """
        module = self.base_model if module is None else module
        handle = module.register_forward_pre_hook(hook, with_kwargs=True)
        self._input_hook_order[handle.id] = order
        hooks = module._forward_pre_hooks
        ours = sorted((hid for hid in hooks if hid in self._input_hook_order), key=self._input_hook_order.__getitem__)
        others = [hid for hid in hooks if hid not in self._input_hook_order]
        for hid in (*ours, *others):
            hooks.move_to_end(hid)
        self.changed()
        return handle

    def iter_layers(self) -> Iterator[LayerRef]:
        return iter(self.layers)

    def register_output_hook(
        self,
        module: nn.Module,
        hook: Callable[..., Any],
        order: int,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Register a forward hook on ``module`` that runs before transformers' hooks, ordered by ``order``.

        Several methods may hook the same module (e.g. LoRA on BART's ``fc2``, whose output a bottleneck adapter
        also reads): ``HOOK_COMPUTE`` hooks run before ``HOOK_CONSUME`` hooks whatever the order of adding them, and
        ``HOOK_EXIT`` hooks (the end of a call) last. Remove the hook with :meth:`remove_hook`.
        """
        handle = module.register_forward_hook(hook, prepend=True, with_kwargs=with_kwargs, always_call=always_call)
        self._hook_order[handle.id] = order
        hooks = module._forward_hooks  # reordered in place: RemovableHandle keeps a reference to this dict
        ours = sorted((hid for hid in hooks if hid in self._hook_order), key=self._hook_order.__getitem__)
        others = [hid for hid in hooks if hid not in self._hook_order]
        exits = [hid for hid in ours if self._hook_order[hid] >= HOOK_EXIT]
        ours = [hid for hid in ours if self._hook_order[hid] < HOOK_EXIT]
        for hid in (*ours, *others, *exits):
            hooks.move_to_end(hid)
        self.changed()
        return handle

    def remove_hook(self, handle: RemovableHandle) -> None:
        """Remove a hook registered with :meth:`register_output_hook` or :meth:`register_input_hook`."""
        handle.remove()
        self._hook_order.pop(handle.id, None)
        self._input_hook_order.pop(handle.id, None)
        self.changed()

    # attention hooks: scoped to this model ---------------------------------------------------------------------
    def hook_attention(self, module: nn.Module, key: str, hook: Callable[[AttentionCall], AttentionCall]) -> None:
        """Add an attention hook to ``module`` and switch its config to the hooked implementation of its backend
        (the config's original implementation comes back with the last hook of this model on it)."""
        config = module.config
        entry = self._attention_configs.get(id(config))
        original = entry[1] if entry is not None else config._attn_implementation
        hooked = hooked_implementation(original)
        add_attention_hook(module, key, hook)
        if entry is None:
            entry = (config, original, set())
            self._attention_configs[id(config)] = entry
            config._attn_implementation = hooked
        entry[2].add(id(module))
        self.changed()

    def unhook_attention(self, module: nn.Module, key: str) -> None:
        """Remove the attention hook ``key`` from ``module`` (see :meth:`hook_attention`)."""
        remove_attention_hook(module, key)
        entry = self._attention_configs.get(id(module.config))
        if entry is not None and not attention_hooks(module):
            entry[2].discard(id(module))
            if not entry[2]:
                del self._attention_configs[id(module.config)]
                entry[0]._attn_implementation = entry[1]
        self.changed()

    def attention_implementation(self, requested: Any) -> Any:
        """What ``set_attn_implementation(requested)`` must set on this model: while attention hooks exist, the
        hooked name of the requested backend (which becomes the one restored when the last hook goes)."""
        if not self._attention_configs or not isinstance(requested, str):
            return requested
        hooked = hooked_implementation(requested)
        for key, (config, _, modules) in list(self._attention_configs.items()):
            self._attention_configs[key] = (config, requested, modules)
        return hooked

    def ensure_module(self, root: nn.Module, path: str, factory) -> nn.Module:
        """Return the module at ``path`` below ``root``, creating it (and empty holders above it) if missing."""
        *parents, leaf = path.split(".")
        parent_path = ".".join(parents)
        parent = root
        if parent_path:
            parent, _ = resolve_path(root, ".".join(self._ensure_holders(root, parents)))
        existing = getattr(parent, leaf, None)
        if existing is None:
            existing = factory()
            parent.add_module(leaf, existing)
        return existing

    def _ensure_holders(self, root: nn.Module, parts: list[str]) -> list[str]:
        module, concrete = root, []
        for part in parts:
            if part.lstrip("-").isdigit():
                module, resolved = resolve_path(module, part)
                concrete.append(resolved)
                continue
            child = getattr(module, part, None)
            if child is None:
                child = HolderModule()
                module.add_module(part, child)
            module = child
            concrete.append(part)
        return concrete

    def remove_module(self, root: nn.Module, path: str) -> None:
        """Remove the module at ``path`` and any :class:`HolderModule` parents left empty."""
        parts = path.split(".")
        for depth in range(len(parts), 0, -1):
            parent, _ = resolve_path(root, ".".join(parts[: depth - 1]))
            leaf = parts[depth - 1]
            child = getattr(parent, leaf, None)
            if child is None:
                return
            if depth < len(parts) and (not isinstance(child, HolderModule) or len(child._modules) > 0):
                return
            delattr(parent, leaf)
