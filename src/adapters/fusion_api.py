"""AdapterFusion model API (mixed into :class:`~adapters.model.ModelAdaptersMixin`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .composition import AdapterCompositionBlock, Fuse, parse_composition
from .configuration import AdapterFusionConfig
from .errors import (
    AdapterExistsError,
    AdapterNameError,
    AdapterNotFoundError,
    CompositionError,
    UnsupportedMethodError,
)
from .io.atomic import atomic_save
from .io.format import HEAD_CONFIG_NAME, refuse_custom_weights_loaders
from .io.fusion import load_fusion, save_fusion
from .io.loading import resolve_adapter_folder
from .io.setup import load_adapter_setup, save_adapter_setup
from .methods.fusion import add_fusion, delete_fusion, fusion_layers, regularization_loss

__all__ = ["FusionMixin"]


def _fuse_of(adapter_names: Any) -> Fuse:
    if isinstance(adapter_names, Fuse):
        return adapter_names
    if isinstance(adapter_names, str):
        adapter_names = [n.strip() for n in adapter_names.split(",")]
    return Fuse(*adapter_names)


class FusionMixin:
    """``add_adapter_fusion``, ``train_adapter_fusion``, saving/loading fusions, the regularisation loss."""

    def add_adapter_fusion(
        self,
        adapter_names: Fuse | list[str] | str,
        config: Any = None,
        name: str | None = None,
        overwrite_ok: bool = False,
        set_active: bool = False,
    ) -> str:
        """Add fusion layers over ``adapter_names`` (a ``Fuse``, a list or ``"a,b"``); returns the fusion's name.

        Fusion layers are created at every site where all fused adapters sit. ``config`` is ``"dynamic"``
        (default), ``"static"``, a dict or an ``AdapterFusionConfig``.
        """
        fuse = _fuse_of(adapter_names)
        names = [c if isinstance(c, str) else c.last() for c in fuse]
        missing = [n for n in names if n not in self.adapters_config]
        if missing:
            raise AdapterNotFoundError(f"Cannot fuse {fuse!r}: no adapter named {', '.join(map(repr, missing))}.")
        self._check_same_locations(names)
        fusion_name = name or fuse.name
        custom = fusion_name != ",".join(names)
        if custom and (fusion_name in self.adapters_config or not fusion_name or {".", "/"} & set(fusion_name)):
            raise AdapterNameError(
                f"Invalid fusion name {fusion_name!r}: fusion names must be non-empty, contain no '.' or '/' and "
                f"differ from the adapters' names ({', '.join(sorted(self.adapters_config.adapters))})."
            )
        config = AdapterFusionConfig.load(config or "dynamic")
        if fusion_name in self.adapters_config.fusions:
            if not overwrite_ok:
                raise AdapterExistsError(
                    f"A fusion named {fusion_name!r} exists; pass overwrite_ok=True to replace it."
                )
            self.delete_adapter_fusion(fusion_name)
        try:
            created = add_fusion(self._adapter_runtime, fusion_name, names, config)
        except BaseException:
            delete_fusion(self._adapter_runtime, fusion_name)
            raise
        if created == 0:
            raise UnsupportedMethodError(
                f"Cannot fuse {names}: no bottleneck adapter location holds all of them (fusion needs bottleneck "
                "adapters at the same sites)."
            )
        self.adapters_config.add_fusion(names, config=config, fusion_name=fusion_name)
        if set_active:
            self.set_active_adapters(Fuse(*fuse, name=fusion_name))
        return fusion_name

    def _check_same_locations(self, names: list[str]) -> None:
        """Fused bottleneck adapters must sit at the same locations (as in the reference, which raised here)."""
        members = [[m for m in self.adapters_config.get(n).members() if m.architecture is None] for n in names]
        locations = ["mh_adapter", "output_adapter"] + (["cross_adapter"] if self.config.is_encoder_decoder else [])
        for location in locations:
            values = {n: [m[location] for m in found] for n, found in zip(names, members) if found}
            if len({str(v) for v in values.values()}) > 1:
                raise CompositionError(
                    f"All fused adapters must define the same value for config attribute {location}; got "
                    f"{', '.join(f'{n!r}: {v[0] if len(v) == 1 else v}' for n, v in values.items())}."
                )

    def delete_adapter_fusion(self, adapter_names: Fuse | list[str] | str) -> None:
        """Remove a fusion (by ``Fuse``, name list or fusion name).

        Raises:
            AdapterNotFoundError: the model has no such fusion (nothing changes; the reference did nothing here).
        """
        if isinstance(adapter_names, Fuse):
            name = adapter_names.name
        elif isinstance(adapter_names, str):
            name = adapter_names
        elif isinstance(adapter_names, (list, tuple)) and all(isinstance(n, str) for n in adapter_names):
            name = ",".join(adapter_names)
        else:
            raise CompositionError(
                f"Invalid fusion {adapter_names!r}: give a Fuse block, a list of adapter names or a fusion name."
            )
        if name not in self.adapters_config.fusions:
            known = ", ".join(sorted(self.adapters_config.fusions)) or "none"
            raise AdapterNotFoundError(f"No fusion named {name!r}. Fusions on this model: {known}.")
        delete_fusion(self._adapter_runtime, name)
        self.adapters_config.remove_fusion(name)

    def _fusion_parameters(self, fusion_name: str):
        for _, _, module in fusion_layers(self._adapter_runtime, fusion_name):
            yield from module.parameters()

    def train_adapter_fusion(self, adapter_setup: Any, unfreeze_adapters: bool = False) -> None:
        """Train only the fusion layers of the ``Fuse`` blocks in ``adapter_setup`` (and the fused adapters with
        ``unfreeze_adapters``); the setup is activated."""
        setup = parse_composition(adapter_setup, model_type=self.config.model_type)
        fuses = [b for b in [setup, *setup] if isinstance(b, Fuse)] if setup is not None else []
        if not fuses:
            raise UnsupportedMethodError(f"train_adapter_fusion needs a setup with a Fuse block, got {setup!r}.")
        self.set_active_adapters(setup)
        self.train()
        self.freeze_model(True)
        for fuse in fuses:
            for param in self._fusion_parameters(fuse.name):
                param.requires_grad = True
            if unfreeze_adapters:
                for name in fuse.flatten():
                    for _, param in self._adapter_parameters(name):
                        param.requires_grad = True

    def get_fusion_regularization_loss(self) -> torch.Tensor | None:
        """``Σ 0.01 ‖I − W_value‖²`` over all fusion layers (add it to the training loss)."""
        return regularization_loss(self._adapter_runtime)

    @atomic_save()
    def save_adapter_fusion(
        self,
        save_directory: str,
        adapter_names: Fuse | list[str] | str,
        meta_dict=None,
        custom_weights_loaders=None,
        with_head: bool | str = False,
        use_safetensors: bool = True,
    ) -> None:
        """Save a fusion (config + weights) in the reference format.

        ``with_head=True`` also saves the head named like the fusion, ``with_head="name"`` that head, into the same
        folder (``load_adapter_fusion`` loads it back).

        Raises:
            AdapterNotFoundError: the head to save does not exist (nothing is written).
        """
        refuse_custom_weights_loaders(custom_weights_loaders, "save_adapter_fusion")
        fuse = _fuse_of(adapter_names)
        name = fuse.name if fuse.name in self.adapters_config.fusions else str(adapter_names)
        head_name = with_head if isinstance(with_head, str) else name
        if with_head and head_name not in (getattr(self, "heads", None) or {}):
            raise AdapterNotFoundError(
                f"No head named {head_name!r} to save with fusion {name!r}; heads: "
                f"{', '.join(getattr(self, 'heads', None) or {}) or 'none'}."
            )
        save_fusion(self, save_directory, name, meta_dict=meta_dict, use_safetensors=use_safetensors)
        if with_head:
            self.save_head(save_directory, head_name, use_safetensors=use_safetensors)

    def load_adapter_fusion(
        self,
        adapter_fusion_name_or_path: str,
        load_as: str | None = None,
        custom_weights_loaders=None,
        set_active: bool = False,
        with_head: bool = True,
        use_safetensors: bool | None = None,
        **kwargs,
    ) -> str:
        """Load a saved fusion (its adapters must be loaded first); returns the fusion's name.

        With ``with_head`` (default), a head saved next to it is loaded too, under its saved name (or ``load_as``).
        """
        refuse_custom_weights_loaders(custom_weights_loaders, "load_adapter_fusion")
        existed = set(self.adapters_config.fusions)
        name = load_fusion(self, adapter_fusion_name_or_path, load_as=load_as, use_safetensors=use_safetensors)
        if with_head and hasattr(self, "heads") and (Path(adapter_fusion_name_or_path) / HEAD_CONFIG_NAME).is_file():
            try:
                self.load_head(adapter_fusion_name_or_path, load_as=load_as, use_safetensors=use_safetensors)
            except BaseException:
                if name not in existed:  # a new fusion whose head failed is removed again
                    self.delete_adapter_fusion(name)
                raise
        if set_active:
            _, names = self.adapters_config.get_fusion(name)
            self.set_active_adapters(Fuse(*names, name=name))
        return name

    @atomic_save()
    def save_all_adapter_fusions(
        self, save_directory: str, meta_dict=None, custom_weights_loaders=None, use_safetensors: bool = True
    ) -> None:
        """Save every fusion to ``save_directory/<fusion name>``."""
        refuse_custom_weights_loaders(custom_weights_loaders, "save_all_adapter_fusions")
        for name in list(self.adapters_config.fusions):
            self.save_adapter_fusion(
                str(Path(save_directory) / name), name, meta_dict=meta_dict, use_safetensors=use_safetensors
            )

    @atomic_save()
    def save_adapter_setup(
        self,
        save_directory: str,
        adapter_setup: Any,
        head_setup: Any = None,
        meta_dict=None,
        custom_weights_loaders=None,
        use_safetensors: bool = True,
    ) -> None:
        """Save a whole setup (its adapters, fusions and heads) to one folder."""
        refuse_custom_weights_loaders(custom_weights_loaders, "save_adapter_setup")
        save_adapter_setup(self, save_directory, adapter_setup, head_setup=head_setup, use_safetensors=use_safetensors)

    def load_adapter_setup(
        self,
        adapter_setup_name_or_path: str,
        version: str | None = None,
        custom_weights_loaders=None,
        set_active: bool = False,
        use_safetensors: bool | None = None,
        **kwargs,
    ):
        """Load a setup saved with :meth:`save_adapter_setup`; returns ``(adapter_setup, head_setup)``."""
        refuse_custom_weights_loaders(custom_weights_loaders, "load_adapter_setup")
        folder = resolve_adapter_folder(adapter_setup_name_or_path, version=version, **kwargs)
        return load_adapter_setup(self, folder, set_active=set_active, use_safetensors=use_safetensors)

    def _delete_fusions_of(self, adapter_name: str) -> None:
        for name in list(self.adapters_config.fusions):
            _, names = self.adapters_config.get_fusion(name)
            if adapter_name in (names or []):
                self.delete_adapter_fusion(name)

    def _active_fuses(self, setup: AdapterCompositionBlock | None) -> list[Fuse]:
        return [b for b in ([setup, *setup] if setup is not None else []) if isinstance(b, Fuse)]
