"""Resolve an :class:`ArchitectureSpec` on a live model and manage what methods attach to it.

The :class:`AdapterRuntime` is created once per adapter-enabled model. It knows the model's layers (with the
reference's global indices: encoder layers first, then decoder layers), resolves dotted paths, creates the small
holder modules that adapters live in (so their state-dict keys match the reference), and answers "which setup is
active for layer i" for the hooks, taking ``AdapterSetup`` contexts and AdapterDrop's ``skip_layers`` into account.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.hooks import RemovableHandle

from ..composition import AdapterCompositionBlock
from ..context import AdapterSetup
from ..errors import UnsupportedModelError
from .spec import ArchitectureSpec, LayerGroup

__all__ = [
    "AdapterRuntime",
    "LayerRef",
    "resolve_path",
    "HolderModule",
    "spec_for_model",
    "HOOK_COMPUTE",
    "HOOK_CONSUME",
    "INPUT_REWRITE",
    "INPUT_CAPTURE",
]

# Order of our forward hooks on one module (lower runs first; transformers' own hooks run after ours):
HOOK_COMPUTE = 0  # the hook completes the module's own computation (LoRA adds its update to a Linear's output)
HOOK_CONSUME = 1  # the hook uses or rewrites the finished output (bottleneck adapters reading a sub-block's output)

# Order of our forward pre-hooks on the base model (lower runs first):
INPUT_REWRITE = 0  # the hook changes the forward arguments (prompt tuning extends the attention mask)
INPUT_CAPTURE = 1  # the hook reads the final arguments (ReFT reads the attention mask)


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


def resolve_path(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    """Follow a dotted path (negative list indices allowed) and return the module and its concrete path."""
    module, parts = root, []
    for part in path.split(".") if path else []:
        if part.lstrip("-").isdigit():
            index = int(part)
            container = list(module.children()) if not isinstance(module, nn.ModuleList) else module
            if index < 0:
                index += len(container)
            module = container[index]
            parts.append(str(index))
        else:
            if not hasattr(module, part):
                raise UnsupportedModelError(
                    f"Module path {path!r} does not exist in {type(root).__name__}: no attribute {part!r} on "
                    f"{type(module).__name__}."
                )
            module = getattr(module, part)
            parts.append(part)
    return module, ".".join(parts)


def spec_for_model(model: nn.Module) -> ArchitectureSpec:
    """The spec of the model's family (see :mod:`adapters.architectures.resolve`); :class:`UnsupportedModelError`
    names the model type and what could not be found otherwise."""
    from .resolve import resolve_spec

    return resolve_spec(model)


class AdapterRuntime:
    """Per-model state shared by all hooks: layers, active setup, AdapterDrop layers."""

    def __init__(self, model: nn.Module, spec: ArchitectureSpec):
        self.spec = spec
        self.active_setup: AdapterCompositionBlock | None = None
        self.skip_layers: tuple[int, ...] | None = None
        # ``task_ids`` of the latest forward call (set by a pre-hook while multi-task adapters exist); kept until the
        # next call so that activation checkpointing recomputes with the same routing
        self.task_ids: Any = None
        self._task_ids_hook: RemovableHandle | None = None
        self._hook_order: dict[int, int] = {}
        self._input_hook_order: dict[int, int] = {}
        base = model.base_model
        self.__dict__["_base_model"] = base
        self.__dict__["_model"] = model
        # options of the add_adapter call in progress (see ``adding``)
        self.add_options: dict[str, Any] = {}
        if model is not base:
            # static-head models build their own output: give it what the base model's forward options collected
            model.register_forward_hook(self._copy_forward_outputs)
        self.layers: list[LayerRef] = []
        for group in spec.layer_groups:
            container, container_path = resolve_path(base, group.path)
            for offset, layer in enumerate(container):
                self.layers.append(LayerRef(len(self.layers), layer, group, f"{container_path}.{offset}"))

    @property
    def base_model(self) -> nn.Module:
        return self.__dict__["_base_model"]

    @property
    def model(self) -> nn.Module:
        """The top-level model object that ``adapters.init`` (or an AdapterModel class) enabled."""
        return self.__dict__["_model"]

    def _copy_forward_outputs(self, module: nn.Module, args: tuple, output):
        from .forward_options import FORWARD_OPTIONS

        options = getattr(self, "forward_options", None) or {}
        for option, key in FORWARD_OPTIONS.items():
            if options.get(option) and hasattr(output, "keys") and key not in output:
                output[key] = self.collected.get(key, {})
        return None

    @contextlib.contextmanager
    def adding(self, adapter_name: str | None = None, **options: Any) -> Iterator[None]:
        """Make ``options`` visible to the methods' ``add`` functions (``runtime.add_options``) inside the block:
        ``tokenizer`` (prompt tuning's ``from_string``), ``loading`` (weights are loaded right after adding, so
        initialisations that need extra inputs may be skipped). When the block adding ``adapter_name`` succeeds, its
        gated modules are marked for ``output_adapter_gating_scores``."""
        previous = self.add_options
        self.add_options = {**previous, **{k: v for k, v in options.items() if v is not None}}
        try:
            yield
        finally:
            self.add_options = previous
        if adapter_name is not None:
            from ..gating import tag_gate_owners
            from ..methods import registered_methods

            for method in registered_methods():
                tag_gate_owners(self, adapter_name, method.modules(self, adapter_name))

    def register_input_hook(self, hook: Callable[..., Any], order: int) -> RemovableHandle:
        """Register a ``forward_pre_hook(with_kwargs=True)`` on the base model, ordered by ``order``.

        ``INPUT_REWRITE`` hooks (which change the arguments) run before ``INPUT_CAPTURE`` hooks (which read them),
        whatever the order of registration. Remove it with :meth:`remove_hook`.
        """
        module = self.base_model
        handle = module.register_forward_pre_hook(hook, with_kwargs=True)
        self._input_hook_order[handle.id] = order
        hooks = module._forward_pre_hooks
        ours = sorted((hid for hid in hooks if hid in self._input_hook_order), key=self._input_hook_order.__getitem__)
        others = [hid for hid in hooks if hid not in self._input_hook_order]
        for hid in (*others, *ours):
            hooks.move_to_end(hid)
        return handle

    def iter_layers(self) -> Iterator[LayerRef]:
        return iter(self.layers)

    def setup_for_layer(self, layer_index: int | None) -> AdapterCompositionBlock | None:
        """The setup that applies to ``layer_index`` now (``None`` index: model-level, ignores skip_layers)."""
        context = AdapterSetup.get_context()
        if context is not None:
            setup, skip = context.adapter_setup, context.skip_layers
            if skip is None:
                skip = self.skip_layers
        else:
            setup, skip = self.active_setup, self.skip_layers
        if setup is None or (layer_index is not None and skip and layer_index in skip):
            return None
        return setup

    def register_output_hook(
        self, module: nn.Module, hook: Callable[..., Any], order: int, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Register a forward hook on ``module`` that runs before transformers' hooks, ordered by ``order``.

        Several methods may hook the same module (e.g. LoRA on BART's ``fc2``, whose output a bottleneck adapter
        also reads): ``HOOK_COMPUTE`` hooks run before ``HOOK_CONSUME`` hooks whatever the order of adding them.
        Remove the hook with :meth:`remove_hook`.
        """
        handle = module.register_forward_hook(hook, prepend=True, with_kwargs=with_kwargs)
        self._hook_order[handle.id] = order
        hooks = module._forward_hooks  # reordered in place: RemovableHandle keeps a reference to this dict
        ours = sorted((hid for hid in hooks if hid in self._hook_order), key=self._hook_order.__getitem__)
        others = [hid for hid in hooks if hid not in self._hook_order]
        for hid in (*ours, *others):
            hooks.move_to_end(hid)
        return handle

    def capture_task_ids(self, enabled: bool) -> None:
        """Install (or remove) a pre-hook on the base model that takes ``task_ids`` out of its forward kwargs
        into :attr:`task_ids` (multi-task adapters route examples by it)."""
        handle = self._task_ids_hook
        if enabled and handle is None:
            self._task_ids_hook = self.base_model.register_forward_pre_hook(self._take_task_ids, with_kwargs=True)
        elif not enabled and handle is not None:
            handle.remove()
            self._task_ids_hook = None
            self.task_ids = None

    def _take_task_ids(self, module: nn.Module, args: tuple, kwargs: dict):
        if "task_ids" not in kwargs:
            self.task_ids = None
            return None
        kwargs = dict(kwargs)
        self.task_ids = kwargs.pop("task_ids")
        return args, kwargs

    def remove_hook(self, handle: RemovableHandle) -> None:
        """Remove a hook registered with :meth:`register_output_hook`."""
        handle.remove()
        self._hook_order.pop(handle.id, None)
        self._input_hook_order.pop(handle.id, None)

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
