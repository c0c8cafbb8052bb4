"""Architecture specs: where adapter methods plug into a model family, written as data.

A spec names, per group of transformer layers (an encoder, a decoder), the dotted module paths (relative to one
layer) that the hook machinery needs. Nothing here holds model code: paths are resolved on a live model by
:mod:`adapters.architectures.attach`.

Two residual structures exist in transformers 5 and both are described by one :class:`BottleneckSite`:

* post-LN (BERT, BART, DistilBERT): ``out = LN(h + residual)``. ``norm`` names the LayerNorm whose output the
  adapter replaces; ``residual`` names the module whose input is the residual; ``output`` the module whose output is
  the sub-block output ``h``.
* pre-LN (GPT-2, Llama, T5, ViT, mBART): ``out = residual + h``. ``norm`` is ``None``; ``residual`` is the pre-norm
  module (its input is the residual) and the adapter rewrites ``h`` at ``output`` so that the model's own addition
  yields the adapter's result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "BottleneckSite",
    "LoRASite",
    "AttentionSite",
    "LayerGroup",
    "InvertibleSite",
    "PromptSite",
    "KeyRename",
    "ArchitectureSpec",
]


@dataclass(frozen=True)
class BottleneckSite:
    """One place in a layer where a bottleneck adapter can sit.

    Attributes:
        location: the reference's location key: ``"mh_adapter"``, ``"output_adapter"`` or ``"cross_adapter"``.
        store: path (relative to the layer) of the module dict that holds the adapters. Its state-dict keys are the
            reference's (e.g. ``attention.output.adapters``); missing intermediate modules are created empty.
        residual: path of the module whose input is the residual stream.
        residual_arg: positional index of the residual in that module's call.
        residual_kwarg: keyword name of the residual, used when it is passed by keyword.
        output: path of the module whose output (or first output element) is the sub-block output ``h``.
        norm: path of the post-LayerNorm (post-LN families) or ``None`` (pre-LN families).
        dropout_attr: for post-LN layers that apply functional dropout to ``h`` (BART), the layer attribute holding
            the dropout probability; the adapter applies it itself so training matches the reference.
        residual_extra: for parallel blocks whose sub-blocks share one residual (GPT-J: ``x + attn(ln(x)) +
            mlp(ln(x))``), the module whose (adapted) output is added to the captured residual, so the FFN adapter
            sees ``x + attn'`` as its residual, as in the reference.
        inner_norm: for pre-LN families with a norm after the sub-block (Gemma 2/3's ``post_attention_layernorm``):
            the adapter's input is ``inner_norm(h + residual)`` (the reference's plugin interface ``layer_ln_1`` /
            ``layer_ln_2``); the model still applies the norm to the adapted output.
        output_scale: layer attribute by which the model multiplies ``h`` before adding the residual (BEiT's
            learned ``lambda_1``/``lambda_2``, Granite's ``residual_multiplier``); the adapter sees the scaled
            ``h`` and its result is divided by the scale so the model's own product gives it back.
        has_residual: ``False`` where the block adds no residual of its own at this site (Phi's parallel FFN, in
            the reference's plugin interface): the adapter sees ``h`` alone.
    """

    location: str
    store: str
    residual: str
    output: str
    norm: str | None = None
    residual_arg: int = 0
    residual_kwarg: str = "hidden_states"
    dropout_attr: str | None = None
    residual_extra: str | None = None
    inner_norm: str | None = None
    output_scale: str | None = None
    has_residual: bool = True


@dataclass(frozen=True)
class LoRASite:
    """One linear layer (``nn.Linear`` or transformers' ``Conv1D``) that LoRA-family methods can adapt.

    Attributes:
        location: the reference's location: ``"selfattn"`` (attention q/k/v projections, self- and cross-attention),
            ``"intermediate"`` or ``"output"``; the config flags ``selfattn_lora``, ``intermediate_lora`` and
            ``output_lora`` enable them.
        path: path of the linear layer relative to the transformer layer. ``"a|b"`` lists alternatives; the first
            that exists is used (e.g. gated and plain T5 feed-forward layers).
        matrices: the attention matrices the layer computes, in output order: ``("q",)`` for a query projection,
            ``("q", "k", "v")`` for a fused projection whose output is ``q|k|v`` in equal parts (GPT-2's
            ``c_attn``). Empty for feed-forward layers. ``attn_matrices`` of the config selects among them.
    """

    location: str
    path: str
    matrices: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttentionSite:
    """An attention module that calls transformers' attention-function interface (prefix tuning prepends keys and
    values there, see :mod:`adapters.architectures.attention`).

    Attributes:
        path: path of the attention module relative to the layer (the module passed as ``module`` to the attention
            function; its first input is the query-side hidden states).
        location: the reference's location key: ``"self_prefix"`` (self-attention of encoder-only and decoder-only
            models and of the decoder of encoder-decoder models), ``"encoder_prefix"`` (encoder self-attention of
            encoder-decoder models), ``"cross_prefix"`` (decoder cross-attention); DistilBERT's is ``"self"``.
        config_flag: the ``PrefixTuningConfig`` flag that enables the site (``"encoder_prefix"``,
            ``"cross_prefix"``) or ``None`` (always enabled).
        heads_attribute: the model config attribute giving the site's number of attention heads (when the config
            has no ``num_key_value_heads``).
        gate_store: path (relative to the layer) of the module holding ``prefix_gates``; the reference's key layout
            ``<attention module>.prefix_tuning.prefix_gates.<name>``.
    """

    path: str
    location: str
    config_flag: str | None = None
    heads_attribute: str = "num_attention_heads"

    @property
    def gate_store(self) -> str:
        return f"{self.path}.prefix_tuning.prefix_gates"


@dataclass(frozen=True)
class LayerGroup:
    """A stack of transformer layers (e.g. the encoder) and the adapter sites inside each layer.

    Attributes:
        path: path of the ``nn.ModuleList`` of layers, relative to the base model.
        sites: the bottleneck sites of every layer in the group.
        lora_sites: the linear layers LoRA-family methods can adapt in every layer of the group.
        attention_sites: the attention modules of every layer of the group (prefix tuning).
        inputs: path (relative to the base model) of the module whose forward receives this group's inputs: its
            2-D ``attention_mask`` (ReFT finds the non-padding positions in it) and ``past_key_values``. ``""`` is
            the base model; encoder-decoder models have ``"encoder"`` and ``"decoder"`` (generation runs the encoder
            on its own).
    """

    path: str
    sites: tuple[BottleneckSite, ...]
    lora_sites: tuple[LoRASite, ...] = ()
    attention_sites: tuple[AttentionSite, ...] = ()
    inputs: str = ""


@dataclass(frozen=True)
class InvertibleSite:
    """Where invertible (NICE/GLOW) adapters live and where they act.

    Attributes:
        store: path (relative to the base model) of the parent module that receives ``invertible_adapters``.
        first_layer: path (relative to the base model) of the first layer; the adapter transforms its input
            (the embedding output).
    """

    store: str
    first_layer: str


@dataclass(frozen=True)
class PromptSite:
    """Where prompt tuning inserts its soft prompt.

    Attributes:
        embedding: path (relative to the base model) of the embedding module.
        mode: ``"embedding_output"``: the prompt is inserted into the output of ``embedding`` (after position
            embeddings, as the reference does for encoders; the prompt has no position); ``"inputs_embeds"``: the
            prompt is inserted into the token embeddings before the model adds positions (decoder-only models, whose
            positions and KV cache then count the prompt like tokens).
    """

    embedding: str
    mode: str = "embedding_output"


@dataclass(frozen=True)
class KeyRename:
    """A bidirectional rename between our base-relative key prefix and the reference's.

    Both sides are literal key fragments in which ``{i}`` stands for a layer index, e.g.
    ``KeyRename("layers.{i}.output_adapters.", "encoder.layer.{i}.output.output_adapters.")``.
    """

    ours: str
    reference: str

    @staticmethod
    def _regex(template: str) -> re.Pattern[str]:
        return re.compile("^" + re.escape(template).replace(re.escape("{i}"), r"(?P<i>\d+)"))

    def to_reference(self, key: str) -> str:
        """Rewrite one of our base-relative keys into the reference's layout (unchanged when it does not match)."""
        return self._apply(key, self.ours, self.reference)

    def from_reference(self, key: str) -> str:
        """Rewrite a reference base-relative key into ours (unchanged when it does not match)."""
        return self._apply(key, self.reference, self.ours)

    def _apply(self, key: str, source: str, target: str) -> str:
        match = self._regex(source).match(key)
        if match is None:
            return key
        replacement = target.replace("{i}", match.group("i")) if "{i}" in source else target
        return replacement + key[match.end() :]


@dataclass(frozen=True)
class ArchitectureSpec:
    """Everything the library needs to know about one model family.

    Attributes:
        name: family name used in messages and docs.
        model_types: the ``config.model_type`` values the spec applies to.
        layer_groups: the layer stacks, in global-index order (encoder first, then decoder).
        invertible: where invertible adapters live, or ``None`` when the family has none.
        prompt: where prompt tuning inserts its prompt, or ``None`` when the family has no prompt tuning.
        checkpoint_renames: renames between our base-relative adapter keys and the reference's, for families whose
            modules transformers 5 renamed (e.g. ViT).
        titles: display names of ``model_types`` (same order) in docs (``docs/model_overview.md``).
        reference: how the reference library supports the family: ``"native"`` (its own model classes),
            ``"plugin"`` (its ``AdapterModelInterface``) or ``None`` (not at all).
        cross: the sites a layer of the family has when it is used as a decoder with cross-attention
            (``config.add_cross_attention``, e.g. BERT as the decoder of an ``EncoderDecoderModel``); added to every
            layer group when the model's config asks for cross-attention.
        unsupported: ``{method name: reason}`` for methods the family cannot run, with the reason shown to users.
    """

    name: str
    model_types: tuple[str, ...]
    layer_groups: tuple[LayerGroup, ...]
    invertible: InvertibleSite | None = None
    prompt: PromptSite | None = None
    checkpoint_renames: tuple[KeyRename, ...] = field(default=())
    titles: tuple[str, ...] = ()
    reference: str | None = None
    cross: LayerGroup | None = None
    unsupported: tuple[tuple[str, str], ...] = ()

    def title(self, model_type: str) -> str:
        """The display name of ``model_type`` (the model type itself when no title is given)."""
        return dict(zip(self.model_types, self.titles)).get(model_type, model_type)

    def reason_unsupported(self, method: str) -> str | None:
        """Why ``method`` cannot run on this family, or ``None``."""
        return dict(self.unsupported).get(method)
