"""OpenAI's wire shapes: the requests we accept, the errors we answer, the SSE framing.

Requests are validated with pydantic so a bad field is a 400 naming the parameter, in OpenAI's
error shape (`{"error": {"message", "type", "param", "code"}}`) that every OpenAI client turns
into its own exception. Fields OpenAI defines but a local model has no use for (`user`,
`logit_bias`, ...) are accepted and ignored, as other OpenAI-compatible servers do, so
existing clients work unchanged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sidecar.llm.errors import OpenAIError

DONE = b"data: [DONE]\n\n"
STREAM_INTERVAL = 0.04
Role = Literal["system", "developer", "user", "assistant", "tool"]
RequestT = TypeVar("RequestT", bound="Loose")


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Function(Loose):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(Loose):
    type: Literal["function"] = "function"
    function: Function


class FunctionName(Loose):
    name: str


class NamedToolChoice(Loose):
    type: Literal["function"] = "function"
    function: FunctionName


class JsonSchema(Loose):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")


class ResponseFormat(Loose):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    def for_llama(self) -> dict[str, Any] | None:
        """llama-cpp-python constrains output with a grammar for json_object (with a schema)."""
        if self.type == "text":
            return None
        if self.type == "json_schema" and self.json_schema is not None:
            return {"type": "json_object", "schema": self.json_schema.schema_}
        return {"type": "json_object"}


class FunctionCall(Loose):
    name: str
    arguments: str = "{}"


class ToolCall(Loose):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(Loose):
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        """Content parts are joined; a local text model cannot take images or audio."""
        if not isinstance(value, list):
            return value
        texts = []
        for part in value:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"content parts of type {part.get('type')!r} are not supported")
            texts.append(part["text"])
        return "\n".join(texts)

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else ""


class Sampling(Loose):
    """What chat and text completions share."""

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stream: bool = False
    n: Literal[1] = 1

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def sampling(self) -> dict[str, Any]:
        """The parameters the client set, under llama-cpp-python's names."""
        names = ("temperature", "top_p", "max_tokens", "stop", "seed")
        options = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        for name in ("presence_penalty", "frequency_penalty"):
            if getattr(self, name) is not None:
                options[name] = getattr(self, name)
        return options


class ChatRequest(Sampling):
    messages: list[Message] = Field(min_length=1)
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    response_format: ResponseFormat | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def sampling(self) -> dict[str, Any]:
        options = super().sampling()
        if self.max_completion_tokens is not None:
            options["max_tokens"] = self.max_completion_tokens
        return options


class CompletionRequest(Sampling):
    prompt: str | list[str]
    max_tokens: int | None = Field(default=16, ge=1)
    echo: bool = False


class EmbeddingRequest(Loose):
    model: str | None = None
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"


class NsqlRequest(Loose):
    question: str = Field(min_length=1)
    model: str | None = None
    max_rows: int = Field(default=100, ge=1, le=10_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    seed: int | None = None


def parse(kind: type[RequestT], body: bytes) -> RequestT:
    """The request body as `kind`, or a 400 naming the first bad parameter."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise OpenAIError(400, f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise OpenAIError(400, "the request body nests arrays or objects too deeply") from None
    if not isinstance(payload, dict):
        raise OpenAIError(400, "the request body must be a JSON object")
    try:
        return kind.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "is required"
        raise OpenAIError(400, f"{where}: {message}", param=where or None) from None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def chat_completion(
    completion_id: str,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
    usage: dict[str, int],
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        ],
        "usage": usage,
    }


def chat_chunk(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
) -> bytes:
    return sse(
        {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
    )


def coalesce(chunks: Iterator[dict[str, Any]], interval: float) -> Iterator[dict[str, Any]]:
    """Merge stream chunks (chat deltas or completion text) that come within `interval` seconds
    of the last one sent.

    Each SSE event costs the server and the client a wake-up and some parsing, which on a
    two-core machine is CPU taken from llama.cpp's threads: with ~80 tokens/s, sending every
    token alone costs about 5% of the generation speed. A chunk is held back only while
    tokens come faster than `interval`, so text still arrives within about that much time.
    """
    pending: dict[str, Any] | None = None
    sent = float("-inf")
    for chunk in chunks:
        if pending is None:
            pending = chunk
        else:
            _merge(pending["choices"][0], chunk["choices"][0])
        current = time.monotonic()
        if pending["choices"][0].get("finish_reason") or current - sent >= interval:
            yield pending
            pending, sent = None, current
    if pending is not None:
        yield pending


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    if "delta" in target:
        text = (target["delta"].get("content") or "") + (source["delta"].get("content") or "")
        if text:
            target["delta"]["content"] = text
    else:
        target["text"] += source["text"]
    target["finish_reason"] = source.get("finish_reason") or target.get("finish_reason")
