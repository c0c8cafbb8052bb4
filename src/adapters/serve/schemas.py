"""Request and response bodies of ``adapters serve`` (pydantic models; FastAPI builds the OpenAPI schema from them).

Unknown fields are refused (HTTP 422), so a misspelt option is an error instead of being ignored.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PredictRequest",
    "GenerateRequest",
    "LoadRequest",
    "AdapterInfo",
    "PredictResponse",
    "GenerateResponse",
    "Token",
    "Entity",
    "HealthResponse",
]

_STRICT = ConfigDict(extra="forbid")


class PredictRequest(BaseModel):
    """One input for an adapter with a classification, multi-label, tagging or QA head: ``text``, or ``question``
    and ``context`` (QA)."""

    model_config = _STRICT

    adapter: str = Field(description="name of a served adapter")
    text: str | None = Field(None, description="the input text (classification, multi-label, tagging)")
    question: str | None = Field(None, description="the question (extractive QA)")
    context: str | None = Field(None, description="the text holding the answer (extractive QA)")
    truncate: bool = Field(False, description="cut inputs longer than the server's max length instead of a 413")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="multi-label: labels with probability >= this")
    timeout_s: float | None = Field(None, gt=0, description="answer within this many seconds (<= server timeout)")

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        qa = self.question is not None or self.context is not None
        if qa and (self.question is None or self.context is None):
            raise ValueError("QA requests need both 'question' and 'context'")
        if qa == (self.text is not None):
            raise ValueError("send either 'text' or 'question' and 'context'")
        return self


class GenerateRequest(BaseModel):
    """A prompt for an adapter with a causal-LM head; greedy by default, sampling with ``do_sample``."""

    model_config = _STRICT

    adapter: str = Field(description="name of a served adapter with a causal_lm head")
    prompt: str
    max_new_tokens: int = Field(32, ge=1, description="at most the server's --max-new-tokens")
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
    top_k: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, description="seed of the sampling (same seed, same text)")
    truncate: bool = False
    timeout_s: float | None = Field(None, gt=0)


class LoadRequest(BaseModel):
    """Load a saved adapter (with its head) under ``name`` from a folder or a Hub id."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    source: str = Field(min_length=1, description="folder of a saved adapter, or a Hub id")


class AdapterInfo(BaseModel):
    name: str
    source: str
    method: str | None = Field(description="the adapter config's architecture, e.g. bottleneck, lora, prefix_tuning")
    head_type: str
    task: str = Field(description="classification, multilabel, tagging, question_answering or generation")
    labels: list[str] | None = None


class Token(BaseModel):
    text: str
    tag: str
    start: int
    end: int
    score: float


class Entity(BaseModel):
    type: str
    text: str
    start: int
    end: int
    score: float


class PredictResponse(BaseModel):
    """The fields of the adapter's task are set: ``label``/``score``/``scores`` (classification), ``value``
    (regression), ``labels``/``scores`` (multi-label), ``tokens``/``entities`` (tagging) or
    ``answer``/``start``/``end``/``score`` (QA)."""

    adapter: str
    task: str
    label: str | None = None
    score: float | None = None
    scores: dict[str, float] | None = None
    value: float | None = None
    labels: list[str] | None = None
    tokens: list[Token] | None = None
    entities: list[Entity] | None = None
    answer: str | None = None
    start: int | None = None
    end: int | None = None


class GenerateResponse(BaseModel):
    adapter: str
    text: str = Field(description="the generated continuation (without the prompt)")
    tokens: int = Field(description="number of generated tokens")


class HealthResponse(BaseModel):
    status: str
    adapters: int
    queued: int


def error_body(message: str) -> dict[str, Any]:
    """The JSON body of every error answer (FastAPI's own ``detail`` convention)."""
    return {"detail": message}
