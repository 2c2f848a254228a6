"""Generation that stops between tokens once nobody waits for it.

llama.cpp generates token after token in one call (`create_completion`, a chat handler's
rounds, a grammar-bound tool call) that the sidecar cannot interrupt from outside: a client
that hung up mid-answer kept the model busy to max_tokens, every request queued behind it
waiting. llama-cpp-python offers no stop for chat completions (their stopping criteria are the
chat format's own), so the context is a Llama whose `sample`, called once per token, first asks
the model's queue whether the running job was abandoned and, if so, raises Abandoned: the call
unwinds at once, leaving the context as after any token (the next call reuses its prompt).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class Abandoned(Exception):
    """The caller of a generation went away; raised between tokens to end it."""


@functools.cache
def stoppable(llama_cpp: Any) -> type:
    """llama_cpp.Llama, made to stop between tokens when its `abandoned()` says so."""

    class Stoppable(llama_cpp.Llama):
        def __init__(self, abandoned: Callable[[], bool], **options: Any) -> None:
            super().__init__(**options)
            self.abandoned = abandoned

        def sample(self, *args: Any, **kwargs: Any) -> int:
            if self.abandoned():
                raise Abandoned("the client went away")
            return int(super().sample(*args, **kwargs))

    return Stoppable
