"""The tool loop: the model answers, or calls data tools that the sidecar runs, until it answers.

Each round is one generation in the model's queue. Calls to the built-in data tools are run
here (see tools.py) and fed back; calls to tools the client defined end the request with
`finish_reason: tool_calls`, as OpenAI does, for the client to run. The number of rounds is
bounded by the model's params.max_tool_steps: the last round offers no tools, so the model has
to answer. Executed calls are reported as `executed_tool_calls` on the message (or on stream
deltas) so the client sees what the model looked at.

Tool results are given back to the model as plain user turns rather than `tool` messages:
chat templates differ widely in tool-message support and llama-cpp-python's built-in chatml
formats drop `tool` messages altogether, while user and assistant turns work with every
template.

A round is streamed token by token unless a tool call can come out of it (a named
tool_choice, or auto with chatml-function-calling, which decides before it streams); such a
round's answer arrives in one piece.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from policies.identity import Identity
from sidecar.llm import grammars
from sidecar.llm.models import ModelEntry
from sidecar.llm.openai import (
    STREAM_INTERVAL,
    ChatRequest,
    Message,
    NamedToolChoice,
    OpenAIError,
    coalesce,
)
from sidecar.llm.tools import TOOL_NAMES, ModelTools, ToolOutcome

AUTO_TOOL_FORMATS = ("chatml-function-calling",)
TOOL_CALL_TOKENS = 512


@dataclass
class Delta:
    """Answer text as it is generated (streaming only)."""

    text: str


@dataclass
class Executed:
    """A data tool call the sidecar ran."""

    outcome: ToolOutcome


@dataclass
class Finished:
    """The end of the request: the answer, or the client's tool calls to run."""

    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, int]
    executed: list[ToolOutcome] = field(default_factory=list)


Event = Delta | Executed | Finished


@dataclass
class Round:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"


def builtin_tools(model: ModelEntry) -> list[str]:
    setting = model.config.params.tools
    if setting == "auto":
        return list(TOOL_NAMES)
    return [] if setting == "none" else list(setting)


class ChatAgent:
    def __init__(
        self, model: ModelEntry, tools: ModelTools, identity: Identity, client: str = ""
    ) -> None:
        self.model = model
        self.tools = tools
        self.identity = identity
        self.client = client

    async def run(self, request: ChatRequest, stream: bool) -> AsyncIterator[Event]:
        """The events of one chat completion; OpenAIError for a request that cannot run."""
        offered, builtin, choice = self._tool_plan(request)
        await anyio.to_thread.run_sync(grammars.check, request, self.model.llama)
        conversation = self._conversation(request.messages)
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        executed: list[ToolOutcome] = []
        steps = self.model.config.params.max_tool_steps
        for step in range(steps + 1):
            tools_now = offered if step < steps and choice != "none" else []
            options = self._options(request, conversation, tools_now, choice)
            streamed = stream and not self._may_call_tools(tools_now, choice)
            current = Round()
            produce = self.model.queue.stream(lambda o=options, s=streamed: self._generate(o, s))
            async with aclosing(produce) as items:
                async for item in items:
                    if streamed:
                        text = _absorb_chunk(current, item)
                        if text:
                            yield Delta(text)
                    else:
                        _absorb_response(current, item, usage)
            calls = current.tool_calls if tools_now else []
            mine = [call for call in calls if call["function"]["name"] in builtin]
            theirs = [call for call in calls if call["function"]["name"] not in builtin]
            for call in mine:
                outcome = await self.tools.call(
                    call["id"],
                    call["function"]["name"],
                    call["function"]["arguments"],
                    self.identity,
                    self.client,
                )
                executed.append(outcome)
                yield Executed(outcome)
            if theirs or not mine:
                if stream and not streamed and current.content:
                    yield Delta(current.content)
                reason = "tool_calls" if theirs else current.finish_reason
                content = None if theirs and not current.content else current.content
                yield Finished(content, theirs, reason, usage, executed)
                return
            conversation += _feedback(current.content, mine, executed[-len(mine) :])
            if isinstance(choice, NamedToolChoice):
                choice = "auto"

    def _tool_plan(
        self, request: ChatRequest
    ) -> tuple[list[dict[str, Any]], set[str], str | NamedToolChoice]:
        """The tools offered this request, which of them the sidecar runs, and the choice."""
        names = builtin_tools(self.model)
        client = [tool.model_dump(exclude_none=True) for tool in request.tools or []]
        for index, tool in enumerate(client):
            if tool["function"]["name"] in names:
                raise OpenAIError(
                    400,
                    f"tool {tool['function']['name']} is a built-in data tool of model "
                    f"{self.model.name}; rename yours",
                    param=f"tools[{index}].function.name",
                )
        offered = self.tools.specs(names, self.identity) + client
        choice = request.tool_choice or "auto"
        if choice == "none" or not offered:
            return [], set(names), "none"
        known = [tool["function"]["name"] for tool in offered]
        if choice == "required":
            if len(known) > 1:
                raise OpenAIError(
                    400,
                    "tool_choice 'required' with several tools is not supported by llama.cpp's "
                    f"chat formats; name one of: {', '.join(known)}",
                    param="tool_choice",
                )
            choice = NamedToolChoice.model_validate({"function": {"name": known[0]}})
        if isinstance(choice, NamedToolChoice) and choice.function.name not in known:
            raise OpenAIError(
                400,
                f"tool_choice names {choice.function.name}, which is not offered; "
                f"tools: {', '.join(known)}",
                param="tool_choice",
            )
        return offered, set(names), choice

    def _conversation(self, messages: list[Message]) -> list[dict[str, Any]]:
        """The request's messages as every chat template can render them."""
        system_prompt = self.model.config.params.system_prompt
        names: dict[str, str] = {}
        turns: list[dict[str, Any]] = []
        if system_prompt and not any(m.role in ("system", "developer") for m in messages):
            turns.append({"role": "system", "content": system_prompt})
        for message in messages:
            if message.role == "tool":
                name = names.get(message.tool_call_id or "", message.name or "a tool")
                turns.append({"role": "user", "content": f"Result of {name}:\n{message.text}"})
            elif message.role == "assistant" and message.tool_calls:
                for call in message.tool_calls:
                    names[call.id] = call.function.name
                calls = [
                    (call.function.name, call.function.arguments) for call in message.tool_calls
                ]
                turns.append({"role": "assistant", "content": _called(message.text, calls)})
            else:
                role = "system" if message.role == "developer" else message.role
                turns.append({"role": role, "content": message.text})
        return turns

    def _options(
        self,
        request: ChatRequest,
        conversation: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        choice: str | NamedToolChoice,
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            "messages": list(conversation),
            "model": self.model.name,
            **request.sampling(),
        }
        if request.response_format is not None:
            options["response_format"] = request.response_format.for_llama()
        if tools:
            options["tools"] = tools
            options["tool_choice"] = (
                choice.model_dump() if isinstance(choice, NamedToolChoice) else choice
            )
        if tools and isinstance(choice, NamedToolChoice):
            # The client's max_tokens is for the answer: cut-off arguments would be invalid JSON.
            options["max_tokens"] = TOOL_CALL_TOKENS
        return options

    def _may_call_tools(self, tools: list[dict[str, Any]], choice: str | NamedToolChoice) -> bool:
        if not tools:
            return False
        return isinstance(choice, NamedToolChoice) or (
            self.model.config.params.chat_format in AUTO_TOOL_FORMATS
        )

    def _generate(self, options: dict[str, Any], stream: bool) -> Iterator[dict[str, Any]]:
        """Runs in the model's worker thread."""
        try:
            if stream:
                chunks = self.model.llama.create_chat_completion(**options, stream=True)
                yield from coalesce(chunks, STREAM_INTERVAL)
            else:
                yield self.model.llama.create_chat_completion(**options)
        except ValueError as error:
            raise generation_error(error) from None


def generation_error(error: ValueError) -> OpenAIError:
    """llama-cpp-python reports a prompt that does not fit as a ValueError; it is a 400."""
    message = str(error)
    if isinstance(error, UnicodeEncodeError):  # JSON's "\ud800": a lone UTF-16 surrogate
        return OpenAIError(
            400,
            f"the text holds {error.object[error.start : error.end]!a}, half of a UTF-16 "
            "surrogate pair, which is not Unicode text; send whole characters",
        )
    if "context window" in message or "exceed" in message:
        return OpenAIError(400, message, param="messages", code="context_length_exceeded")
    return OpenAIError(400, message)


def _absorb_chunk(current: Round, chunk: dict[str, Any]) -> str:
    choice = chunk["choices"][0]
    delta = choice.get("delta") or {}
    if choice.get("finish_reason"):
        current.finish_reason = choice["finish_reason"]
    text = delta.get("content") or ""
    current.content += text
    return text


def _absorb_response(current: Round, response: dict[str, Any], usage: dict[str, int]) -> None:
    choice = response["choices"][0]
    message = choice["message"]
    current.content = message.get("content") or ""
    current.finish_reason = choice.get("finish_reason") or "stop"
    current.tool_calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": call["function"].get("arguments") or "{}",
            },
        }
        for call in message.get("tool_calls") or []
    ]
    for key in usage:
        usage[key] += (response.get("usage") or {}).get(key, 0)


def _called(text: str, calls: list[tuple[str, str]]) -> str:
    lines = [text] if text else []
    lines += [f"Called {name} with {arguments}" for name, arguments in calls]
    return "\n".join(lines)


def _feedback(
    text: str, calls: list[dict[str, Any]], outcomes: list[ToolOutcome]
) -> list[dict[str, Any]]:
    """The round's calls and their results, as turns for the next round."""
    called = [(call["function"]["name"], call["function"]["arguments"]) for call in calls]
    turns: list[dict[str, Any]] = [{"role": "assistant", "content": _called(text, called)}]
    for outcome in outcomes:
        turns.append({"role": "user", "content": f"Result of {outcome.name}:\n{outcome.content}"})
    return turns
