"""The OpenAI-compatible endpoints, as Starlette routes the HTTP server mounts.

They sit behind the HTTP server's AuthMiddleware, so a model is reached with the same API key
as the SQL API, and data tools run under that caller's identity. Streamed responses fetch their
first event before the response starts, so a request that cannot run (an unknown tool, a
prompt too long, a full queue) is still a proper status code with an OpenAI error body.

The request models and the chat machinery (`openai`, `agent`, `nsql`) are imported by the
first request that needs them: a sidecar without models serves `/v1/models` without them.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.datatools import error_body
from sidecar.gateway import Gateway
from sidecar.llm.errors import OpenAIError
from sidecar.llm.metrics import LlmMetrics
from sidecar.llm.models import ModelEntry, ModelService
from sidecar.llm.queue import QueueFull
from sidecar.llm.tools import ModelTools

if TYPE_CHECKING:
    from sidecar.llm.agent import Event, Finished

MAX_BODY = 8 << 20
EVENT_STREAM = "text/event-stream"
log = logging.getLogger("sidecar.llm")
Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")


class LlmApi:
    def __init__(self, models: ModelService, gateway: Gateway) -> None:
        self.models = models
        self.tools = ModelTools(gateway)
        self.metrics = LlmMetrics(gateway.metrics.registry, models)

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self.list_models),
            Route("/v1/models/{model:path}", self.get_model),
            Route("/v1/chat/completions", self._guarded("chat", self.chat), methods=["POST"]),
            Route("/v1/completions", self._guarded("completion", self.complete), methods=["POST"]),
            Route("/v1/embeddings", self._guarded("embedding", self.embed), methods=["POST"]),
            Route("/v1/nsql", self._guarded("nsql", self.nsql), methods=["POST"]),
        ]

    async def list_models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": self.models.status()})

    async def get_model(self, request: Request) -> Response:
        try:
            return JSONResponse(self.models.get(request.path_params["model"]).describe())
        except OpenAIError as error:
            return error.response()

    def _guarded(self, endpoint: str, handler: Handler) -> Handler:
        """Errors become OpenAI error responses, and every request is counted."""

        async def guarded(request: Request) -> Response:
            request.state.started = time.perf_counter()
            request.state.endpoint = endpoint
            request.state.model = "-"
            try:
                await read_body(request)  # before listening for the hang-up, which reads on
                answer = await _unless_gone(request, handler(request))
                if answer is None:
                    self._record(request, "canceled")
                    return Response(status_code=499)  # nobody reads it
                return answer
            except (OpenAIError, QueueFull) as error:
                failure = _as_openai(error)
            except Exception as error:  # a llama.cpp or engine bug: a 500, never a dead process
                log.exception("%s request failed", endpoint)
                failure = OpenAIError(500, f"{type(error).__name__}: {error}", type="server_error")
            self._record(request, "error")
            return failure.response()

        return guarded

    def _record(self, request: Request, outcome: str, usage: dict[str, int] | None = None) -> None:
        state = request.state
        seconds = time.perf_counter() - state.started
        self.metrics.record(state.model, state.endpoint, outcome, seconds, usage)

    async def _model(self, request: Request, name: str | None) -> ModelEntry:
        entry = self.models.get(name)
        request.state.model = entry.name
        return await entry.ready()

    async def chat(self, request: Request) -> Response:
        from sidecar.llm.agent import ChatAgent
        from sidecar.llm.openai import ChatRequest, chat_completion, new_id, parse

        body = parse(ChatRequest, await read_body(request))
        model = await self._model(request, body.model)
        events = ChatAgent(model, self.tools, identity(request), client(request)).run(
            body, body.stream
        )
        completion_id = new_id("chatcmpl")
        if not body.stream:
            finished = await _last(events)
            message: dict[str, Any] = {"role": "assistant", "content": finished.content}
            if finished.tool_calls:
                message["tool_calls"] = finished.tool_calls
            if finished.executed:
                message["executed_tool_calls"] = [o.visible() for o in finished.executed]
            self._record(request, "ok", finished.usage)
            return JSONResponse(
                chat_completion(
                    completion_id, model.name, message, finished.finish_reason, finished.usage
                )
            )
        first = await anext(events)
        chunks = self._chat_stream(request, completion_id, model.name, first, events)
        return StreamingResponse(self._served(request, chunks), media_type=EVENT_STREAM)

    async def _chat_stream(
        self,
        request: Request,
        completion_id: str,
        model: str,
        first: Event,
        events: AsyncIterator[Event],
    ) -> AsyncIterator[bytes]:
        from sidecar.llm.agent import Delta, Executed
        from sidecar.llm.openai import chat_chunk, now

        created = now()
        yield chat_chunk(completion_id, created, model, {"role": "assistant", "content": ""})
        async for event in _prepend(first, events):
            if isinstance(event, Delta):
                yield chat_chunk(completion_id, created, model, {"content": event.text})
            elif isinstance(event, Executed):
                delta = {"executed_tool_calls": [event.outcome.visible()]}
                yield chat_chunk(completion_id, created, model, delta)
            else:
                if event.tool_calls:
                    calls = [{"index": i, **call} for i, call in enumerate(event.tool_calls)]
                    yield chat_chunk(completion_id, created, model, {"tool_calls": calls})
                yield chat_chunk(completion_id, created, model, {}, event.finish_reason)
                request.state.usage = event.usage

    async def _served(self, request: Request, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """An SSE body: the chunks, then [DONE]. Once the 200 is out, an error can only be an
        error event, which OpenAI clients raise as an exception."""
        from sidecar.llm.openai import DONE, sse

        try:
            async for chunk in chunks:
                yield chunk
        except (OpenAIError, QueueFull) as error:
            failure = _as_openai(error)
        except Exception as error:
            log.exception("%s stream failed", request.state.endpoint)
            failure = OpenAIError(500, f"{type(error).__name__}: {error}", type="server_error")
        else:
            self._record(request, "ok", getattr(request.state, "usage", None))
            yield DONE
            return
        self._record(request, "error")
        yield sse(failure.body())

    async def complete(self, request: Request) -> Response:
        from sidecar.llm.agent import generation_error
        from sidecar.llm.openai import STREAM_INTERVAL, CompletionRequest, coalesce, parse, sse

        body = parse(CompletionRequest, await read_body(request))
        model = await self._model(request, body.model)
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if not prompts:
            raise OpenAIError(400, "prompt must not be an empty list", param="prompt")
        options = {**body.sampling(), "model": model.name, "echo": body.echo}

        def generate(prompt: str, stream: bool) -> Iterator[dict[str, Any]]:
            try:
                if stream:
                    chunks = model.llama.create_completion(prompt, stream=True, **options)
                    yield from coalesce(chunks, STREAM_INTERVAL)
                else:
                    yield model.llama.create_completion(prompt, **options)
            except ValueError as error:
                raise generation_error(error) from None

        if body.stream:
            chunks = _completion_chunks(model, prompts, generate)
            first = await anext(chunks)
            encoded = (sse(chunk) async for chunk in _prepend(first, chunks))
            return StreamingResponse(self._served(request, encoded), media_type=EVENT_STREAM)
        choices: list[dict[str, Any]] = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        response: dict[str, Any] = {}
        for index, prompt in enumerate(prompts):
            response = await model.queue.run(lambda p=prompt: next(generate(p, False)))
            choices.append({**response["choices"][0], "index": index})
            for key in usage:
                usage[key] += response["usage"][key]
        self._record(request, "ok", usage)
        return JSONResponse({**response, "choices": choices, "usage": usage})

    async def embed(self, request: Request) -> Response:
        from sidecar.llm.agent import generation_error
        from sidecar.llm.openai import EmbeddingRequest, parse

        body = parse(EmbeddingRequest, await read_body(request))
        model = await self._model(request, body.model)
        if model.embedder is None:
            raise OpenAIError(
                400,
                f"model {model.name} does not serve embeddings; set params.embedding: true "
                "for it in sidecar.yaml",
                param="model",
            )
        inputs = [body.input] if isinstance(body.input, str) else body.input
        if not all(text.strip() for text in inputs):
            raise OpenAIError(400, "input must not contain empty strings", param="input")

        def embed() -> dict[str, Any]:
            try:
                _check_lengths(model, inputs)
                return model.embedder.create_embedding(inputs, model=model.name)
            except ValueError as error:
                raise generation_error(error) from None

        response = await model.queue.run(embed)
        if body.encoding_format == "base64":
            for item in response["data"]:
                item["embedding"] = base64_floats(item["embedding"])
        self._record(request, "ok", response.get("usage"))
        return JSONResponse(response)

    async def nsql(self, request: Request) -> Response:
        from sidecar.llm import nsql
        from sidecar.llm.openai import NsqlRequest, parse

        body = parse(NsqlRequest, await read_body(request))
        model = await self._model(request, body.model)
        try:
            answer = await nsql.answer(model, self.tools, body, identity(request), client(request))
        except nsql.NsqlFailed as failure:
            self._record(request, "sql_error")
            error = error_body(failure.error)
            error.update({"type": "sql_error", "param": None})
            return JSONResponse(
                {"error": error, "sql": failure.attempts[-1]["sql"], "attempts": failure.attempts},
                status_code=422,
            )
        self._record(request, "ok", None)
        return JSONResponse(answer)


def _check_lengths(model: ModelEntry, inputs: list[str]) -> None:
    """An input longer than the model embeds is refused, as OpenAI refuses it: llama.cpp
    would embed only its first tokens, and the vector would silently stand for part of it."""
    limit = model.embed_tokens()
    for index, text in enumerate(inputs):
        count = len(model.embedder.tokenize(text.encode()))
        if count > limit:
            which = "input" if len(inputs) == 1 else f"input[{index}]"
            raise OpenAIError(
                400,
                f"{which} is {count} tokens long; model {model.name} embeds at most {limit} "
                "tokens per input (its params.n_ctx, within the context it was trained on): "
                "split the text, or shorten it",
                param="input",
                code="context_length_exceeded",
            )


async def _completion_chunks(
    model: ModelEntry,
    prompts: list[str],
    generate: Callable[[str, bool], Iterator[dict[str, Any]]],
) -> AsyncIterator[dict[str, Any]]:
    for index, prompt in enumerate(prompts):
        async with aclosing(model.queue.stream(lambda p=prompt: generate(p, True))) as chunks:
            async for chunk in chunks:
                chunk["choices"][0]["index"] = index
                yield chunk


def base64_floats(values: list[float]) -> str:
    """OpenAI's base64 encoding: little-endian float32, what the official clients ask for."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def identity(request: Request) -> Identity:
    return getattr(request.state, "identity", None) or ANONYMOUS_IDENTITY


def client(request: Request) -> str:
    """The caller's address, for the audit lines of the data tools it makes the model run."""
    return f"{request.client.host}:{request.client.port}" if request.client else ""


async def read_body(request: Request) -> bytes:
    """The request's body, read once (kept on the request for the handler)."""
    body: bytes | None = getattr(request.state, "body", None)
    if body is not None:
        return body
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise OpenAIError(413, f"the request body exceeds {MAX_BODY} bytes")
    request.state.body = body
    return body


async def _unless_gone(request: Request, work: Awaitable[Response]) -> Response | None:
    """`work`'s response, or None once the client has hung up before it was ready: the work
    is cancelled then (the model's queued and running jobs, the data tools' queries). A
    streamed answer watches for the hang-up itself once its response starts; an answer
    written whole was generated to the end for nobody, its tool queries run too. The body is
    read by now, so the next ASGI message is the disconnect."""

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    task, watcher = asyncio.ensure_future(work), asyncio.ensure_future(gone())
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return None if task.cancelled() else task.result()


async def _last(events: AsyncIterator[Event]) -> Finished:
    from sidecar.llm.agent import Finished

    async with aclosing(events) as items:
        async for event in items:
            if isinstance(event, Finished):
                return event
    raise OpenAIError(500, "the model stopped without an answer", type="server_error")


async def _prepend(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    yield first
    async for item in rest:
        yield item


def _as_openai(error: OpenAIError | QueueFull) -> OpenAIError:
    """A full queue is OpenAI's "overloaded": a 503 that clients retry after a pause."""
    if isinstance(error, OpenAIError):
        return error
    return OpenAIError(503, str(error), type="server_error", code="model_overloaded")
