"""A client hanging up mid-generation frees the model within a token or so, on every path.

The model is the suite's tiny random llama (tests/llm_model.py) written `endless`: it never ends
an answer by itself, so a generation runs to max_tokens, tens of seconds on one thread, unless
the sidecar stops it. Each case starts one with the official openai client, hangs up while it
runs (a timeout for answers written whole, closing the stream for SSE), and then the sidecar's
CPU time must go idle: before, only the work queued behind the running generation was
cancelled, and the model generated on to max_tokens for nobody.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.llm_model import write_tiny_llama
from tests.peers import unavailable
from tests.process import SidecarProcess, free_port, settle

TICKS = os.sysconf("SC_CLK_TCK")
TOKENS = 7000  # tens of seconds of generation on one thread, far past any wait below
STORY = [{"role": "user", "content": "Tell a long story"}]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python (the llm extra)", "make install-llm")
    root = tmp_path_factory.mktemp("hangups")
    write_tiny_llama(root / "endless.gguf", context=8192, endless=True)
    port = free_port()
    (root / "orders.csv").write_text("id,status\n1,paid\n2,failed\n")
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            runtime: {{http: {{port: {port}}}}}
            datasets:
              - {{from: file:orders.csv, name: orders}}
            models:
              - from: file:endless.gguf
                name: endless
                params: {{n_ctx: 8192, n_threads: 1, max_tool_steps: 1}}
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml")
    process.start(port)

    def loaded() -> bool:
        [model] = httpx.get(f"{process.url}/v1/models").json()["data"]
        return bool(model["state"] == "ready")

    settle(loaded, "the model")
    yield process
    process.stop()


def cpu_seconds(process: SidecarProcess) -> float:
    assert process.process is not None
    fields = Path(f"/proc/{process.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def busy(process: SidecarProcess, window: float = 1.0) -> float:
    """The share of one core the sidecar used over `window` seconds."""
    start = cpu_seconds(process)
    time.sleep(window)
    return (cpu_seconds(process) - start) / window


def client(process: SidecarProcess, timeout: float = 60) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{process.url}/v1", api_key="none", max_retries=0, timeout=timeout
    )


def chat_written_whole(process: SidecarProcess) -> None:
    with pytest.raises(openai.APITimeoutError):
        client(process, timeout=1.5).chat.completions.create(
            model="endless", messages=STORY, max_tokens=TOKENS, tool_choice="none"
        )


def chat_streamed(process: SidecarProcess) -> None:
    stream = client(process).chat.completions.create(
        model="endless", messages=STORY, max_tokens=TOKENS, tool_choice="none", stream=True
    )
    next(iter(stream))
    time.sleep(1.0)
    stream.close()


def chat_after_a_data_tool(process: SidecarProcess) -> None:
    """The forced tool round, its data tool run, then the answer round: hung up in it."""
    forced = {"type": "function", "function": {"name": "list_datasets"}}
    with pytest.raises(openai.APITimeoutError):
        client(process, timeout=2.5).chat.completions.create(
            model="endless", messages=STORY, max_tokens=TOKENS, tool_choice=forced
        )


def completion_written_whole(process: SidecarProcess) -> None:
    with pytest.raises(openai.APITimeoutError):
        client(process, timeout=1.5).completions.create(
            model="endless", prompt="Once upon a time", max_tokens=TOKENS
        )


def completion_streamed(process: SidecarProcess) -> None:
    stream = client(process).completions.create(
        model="endless", prompt="Once upon a time", max_tokens=TOKENS, stream=True
    )
    next(iter(stream))
    time.sleep(1.0)
    stream.close()


HANG_UPS: dict[str, Callable[[SidecarProcess], None]] = {
    "chat": chat_written_whole,
    "chat stream": chat_streamed,
    "chat after a data tool": chat_after_a_data_tool,
    "completion": completion_written_whole,
    "completion stream": completion_streamed,
}


@pytest.mark.parametrize("path", list(HANG_UPS))
def test_a_hang_up_stops_the_running_generation(sidecar: SidecarProcess, path: str) -> None:
    HANG_UPS[path](sidecar)
    time.sleep(0.5)  # the hang-up reaches the model at its next token
    assert busy(sidecar) < 0.2, "the model generated on for a client gone"
    answer = client(sidecar).completions.create(model="endless", prompt="Hi", max_tokens=4)
    assert answer.choices[0].finish_reason == "length"
