"""The JSON schemas a client sends, checked before llama.cpp turns them into grammars.

llama-cpp-python makes a GBNF grammar of `response_format`'s schema and of a tool's
`parameters` (a named tool_choice, or chatml-function-calling's own choice). A schema its
converter cannot read is silently replaced with "any JSON", so the answer ignores the schema
the client asked for; a grammar that llama.cpp's own parser rejects (a `pattern` with `\\d`
inside brackets) leaves llama-cpp-python a null sampler, and the first token crashes the whole
process; so does a grammar that parses but demands a NUL character (a `const` or `pattern`
holding U+0000), which llama.cpp's sampler lets through and its grammar then cannot accept
(an uncaught C++ exception: abort). And the converter names each nested rule after its whole
path, so its grammar grows with the square of the nesting: a 600 KB schema 20,000 levels deep
would become gigabytes. Each schema is therefore converted and parsed here first,
with the same converter and llama.cpp's own parser, after bounds on its depth and size
(looser than OpenAI's own: 10 levels, 120,000 characters of names and values), and any of these
is a 400 naming the parameter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from sidecar.llm.errors import OpenAIError
from sidecar.llm.openai import ChatRequest

# U+0000 in a GBNF literal or class, but not as the low end of a range ([^"\\\x00-\x1F],
# which every JSON string rule holds): an escape after an even run of backslashes, or raw.
NUL = re.compile(r"(?<!\\)(?:\\\\)*\\(?:x00|u0000|U00000000)(?!-)|\x00")
MAX_DEPTH = 32
MAX_SIZE = 256 << 10  # characters of the schema as JSON
UNPARSABLE = (
    "llama.cpp cannot compile the grammar this JSON schema becomes: most often a `pattern` "
    "uses regular-expression syntax its grammars lack (\\d, \\w or \\s inside [...], "
    "lookarounds, backreferences)"
)


def check(request: ChatRequest, llama: Any) -> None:
    """Raise a 400 for the first schema of `request` that cannot become a grammar for `llama`
    (a loaded llama_cpp.Llama)."""
    from llama_cpp import llama_cpp as native
    from llama_cpp.llama_grammar import LLAMA_GRAMMAR_DEFAULT_ROOT, json_schema_to_gbnf

    for param, schema in _schemas(request):
        if _depth(schema) > MAX_DEPTH:
            raise OpenAIError(
                400, f"{param}: the schema nests more than {MAX_DEPTH} levels deep", param=param
            )
        text = json.dumps(schema)
        if len(text) > MAX_SIZE:
            raise OpenAIError(
                400,
                f"{param}: the schema is {len(text):,} characters of JSON, more than the "
                f"{MAX_SIZE:,} a grammar is made of; shorten its enums and descriptions",
                param=param,
            )
        try:
            grammar = json_schema_to_gbnf(text)
        except Exception as error:  # the converter's own words: KeyError, ValueError, ...
            raise OpenAIError(
                400, f"{param}: not a JSON schema llama.cpp can follow ({error!r})", param=param
            ) from None
        if NUL.search(grammar):
            raise OpenAIError(
                400,
                f"{param}: the schema asks for a NUL character (U+0000), which a model cannot "
                "generate; remove it from its const, enum or pattern",
                param=param,
            )
        sampler = native.llama_sampler_init_grammar(
            llama._model.vocab, grammar.encode(), LLAMA_GRAMMAR_DEFAULT_ROOT.encode()
        )
        if not sampler:
            raise OpenAIError(400, f"{param}: {UNPARSABLE}", param=param)
        native.llama_sampler_free(sampler)


def _schemas(request: ChatRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    """The client's schemas that can become grammars, each with the parameter that holds it."""
    shape = request.response_format
    if shape is not None and shape.type == "json_schema" and shape.json_schema is not None:
        yield "response_format.json_schema.schema", shape.json_schema.schema_
    if request.tool_choice != "none":
        for index, tool in enumerate(request.tools or []):
            yield f"tools[{index}].function.parameters", tool.function.parameters


def _depth(value: Any) -> int:
    """How many objects and arrays deep `value` nests (0 for a scalar), without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            pending.extend((child, depth + 1) for child in item)
    return deepest
