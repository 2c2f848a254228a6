"""The OpenAI-compatible endpoint of a real `sidecar run`, driven by the official openai client.

The model is a tiny random-weight llama GGUF written by tests/llm_model.py and run by the real
llama.cpp. Its words are noise, so the tests check what the sidecar guarantees: the shapes,
grammars (JSON mode, forced tool arguments), that tool calls are executed against the data,
errors, auth, and that SQL keeps answering while the model works.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import openai
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.llm_model import write_tiny_llama
from tests.peers import unavailable
from tests.process import SidecarProcess, free_port, settle

KEY = "k-llm-5c1e0b7d"
SQL = "SELECT count(*) AS n FROM orders WHERE status = 'failed'"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python (the llm extra)", "make install-llm")
    root = tmp_path_factory.mktemp("llm")
    orders = pa.table(
        {
            "id": pa.array(range(1, 201), pa.int64()),
            "status": ["failed" if i % 4 == 0 else "paid" for i in range(1, 201)],
            "amount": [i * 2.5 for i in range(1, 201)],
            "price": pa.array(
                [Decimal(f"12345678901234567{i:03}.1234567890") for i in range(1, 201)],
                pa.decimal128(38, 10),
            ),
        }
    )
    pq.write_table(orders, root / "orders.parquet")
    write_tiny_llama(root / "tiny.gguf")
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: llm-test
            runtime:
              http: {{port: {port}}}
              auth:
                api_keys:
                  - {{key: "${{env:AGENT_KEY}}", identity: llm-agent}}
            datasets:
              - {{from: file:orders.parquet, name: orders, description: Orders of the shop}}
            models:
              - from: file:tiny.gguf
                name: tiny
                params: {{n_ctx: 2048, n_threads: 1, embedding: true, max_tool_steps: 2}}
              - from: file:tiny.gguf
                name: tiny-fc
                params: {{n_ctx: 2048, n_threads: 1, chat_format: chatml-function-calling}}
              - from: file:missing.gguf
                name: broken
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml", env={"AGENT_KEY": KEY})
    process.start(port)
    wait_for_models(process.url)
    yield process
    process.stop()


def wait_for_models(url: str) -> None:
    """/v1/ready covers datasets; models load alongside and report their own state."""

    def loaded() -> bool:
        models = httpx.get(f"{url}/v1/models", headers={"X-API-Key": KEY}).json()["data"]
        return all(model["state"] in ("ready", "error") for model in models)

    settle(loaded, "models")


@pytest.fixture(scope="module")
def client(sidecar: SidecarProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sidecar.url}/v1", api_key=KEY, max_retries=0, timeout=120)


def chat(client: openai.OpenAI, **kwargs: object) -> object:
    options: dict[str, object] = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "How many orders failed?"}],
        "max_tokens": 16,
        "seed": 7,
    }
    return client.chat.completions.create(**{**options, **kwargs})


def test_models_list_states_and_the_unloadable_one(client: openai.OpenAI) -> None:
    models = {model.id: model for model in client.models.list()}
    assert set(models) == {"tiny", "tiny-fc", "broken"}
    assert models["tiny"].owned_by == "sidecar"
    assert models["tiny"].model_extra["state"] == "ready"
    assert models["broken"].model_extra["state"] == "error"
    assert "missing.gguf does not exist" in models["broken"].model_extra["error"]
    assert client.models.retrieve("tiny").id == "tiny"


def test_chat_completion(client: openai.OpenAI) -> None:
    response = chat(client, tool_choice="none", temperature=0.5, top_p=0.9, stop=["\n\n"])
    choice = response.choices[0]
    assert response.id.startswith("chatcmpl-") and response.model == "tiny"
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert 0 < response.usage.completion_tokens <= 16
    assert response.usage.prompt_tokens > 5
    again = chat(client, tool_choice="none", temperature=0.5, top_p=0.9, stop=["\n\n"])
    assert again.choices[0].message.content == choice.message.content  # same seed, same text


def test_chat_streams_server_sent_events(client: openai.OpenAI, sidecar: SidecarProcess) -> None:
    chunks = list(chat(client, stream=True, tool_choice="none", max_tokens=12))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    whole = chat(client, tool_choice="none", max_tokens=12).choices[0].message.content
    # llama-cpp-python's stream can hold back the bytes of a last, multi-byte character.
    assert text and whole.startswith(text) and len(whole) - len(text) <= 1
    raw = httpx.post(
        f"{sidecar.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={
            "model": "tiny",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "max_tokens": 4,
        },
        timeout=60,
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.text.rstrip().endswith("data: [DONE]")


def test_forced_data_tool_is_executed_against_the_dataset(client: openai.OpenAI) -> None:
    response = chat(client, tool_choice={"type": "function", "function": {"name": "sample_data"}})
    message = response.choices[0].message
    assert message.tool_calls is None
    assert response.choices[0].finish_reason in ("stop", "length")
    [executed] = message.model_extra["executed_tool_calls"]
    assert executed["function"]["name"] == "sample_data"
    assert json.loads(executed["function"]["arguments"])["table"] == "orders"
    assert executed["ok"] is True
    result = json.loads(executed["output"])
    assert result["columns"] == ["id", "status", "amount", "price"]
    assert result["rows"][0] == [1, "paid", 2.5, "12345678901234567001.1234567890"]


def test_forced_sql_tool_runs_behind_the_guard(client: openai.OpenAI) -> None:
    """The tiny model writes noise as SQL: the sidecar runs it anyway, through the read-only
    guard, and hands the error back to the model instead of failing the request."""
    response = chat(
        client, tool_choice={"type": "function", "function": {"name": "sql"}}, max_tokens=48
    )
    [executed] = response.choices[0].message.model_extra["executed_tool_calls"]
    assert executed["function"]["name"] == "sql"
    output = json.loads(executed["output"])
    assert ("rows" in output) == executed["ok"]
    if not executed["ok"]:
        assert output["error"]["code"] and output["error"]["message"]


def test_streamed_tool_calls_are_visible(client: openai.OpenAI) -> None:
    chunks = list(
        chat(
            client,
            stream=True,
            tool_choice={"type": "function", "function": {"name": "table_schema"}},
        )
    )
    executed = [
        call
        for chunk in chunks
        for call in (chunk.choices[0].delta.model_extra or {}).get("executed_tool_calls", [])
    ]
    assert [call["function"]["name"] for call in executed] == ["table_schema"]
    described = json.loads(executed[0]["output"])
    assert [column["name"] for column in described["columns"]] == [
        "id",
        "status",
        "amount",
        "price",
    ]
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_client_tools_are_returned_to_the_client(client: openai.OpenAI) -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "enum": ["Paris", "Rome"]}},
                "required": ["city"],
            },
        },
    }
    response = chat(
        client,
        tools=[weather],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=24,
    )
    assert response.choices[0].finish_reason == "tool_calls"
    [call] = response.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments)["city"] in ("Paris", "Rome")
    follow_up = chat(
        client,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=[weather],
        tool_choice="none",
    )
    assert follow_up.choices[0].finish_reason in ("stop", "length")


def test_auto_tool_choice_with_function_calling_format(client: openai.OpenAI) -> None:
    response = chat(client, model="tiny-fc", max_tokens=24)
    choice = response.choices[0]
    executed = choice.message.model_extra.get("executed_tool_calls", [])
    assert all(
        call["function"]["name"] in {"list_datasets", "table_schema", "sql", "sample_data"}
        for call in executed
    )
    assert choice.finish_reason in ("stop", "length")


def test_json_mode(client: openai.OpenAI) -> None:
    response = chat(
        client, response_format={"type": "json_object"}, tool_choice="none", max_tokens=400
    )
    assert response.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(response.choices[0].message.content), dict)
    schema = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["paid", "failed"]}},
        "required": ["status"],
    }
    shaped = chat(
        client,
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        tool_choice="none",
        max_tokens=400,
    )
    assert json.loads(shaped.choices[0].message.content)["status"] in ("paid", "failed")


def nested(levels: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        # llama.cpp's parser rejects the grammar: a null sampler, then SIGSEGV (was)
        ({"type": "string", "pattern": "^[\\d-a]$"}, "cannot compile the grammar"),
        # the grammar parses but demands U+0000: an uncaught C++ exception, SIGABRT (was)
        ({"type": "string", "pattern": "^[\\u0000]$"}, "NUL character"),
        # the converter fails: silently "any JSON" instead of the schema (was)
        ({"$ref": "#/definitions/nowhere"}, "not a JSON schema llama.cpp can follow"),
        # a 17 KB schema 600 levels deep became a 2.7 MB grammar (the square of the depth)
        (nested(600), "more than 32 levels"),
    ],
    ids=["unparsable", "nul", "unconvertible", "deep"],
)
def test_schemas_that_cannot_be_grammars_are_400s(
    client: openai.OpenAI, schema: dict[str, object], words: str
) -> None:
    """Whether in response_format or in a client tool's parameters, a schema llama.cpp cannot
    follow is the client's 400, naming it; before, these crashed or hung the whole process."""
    formats = {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}
    tool = {"type": "function", "function": {"name": "lookup", "parameters": schema}}
    for options, param in (
        ({"response_format": formats, "tool_choice": "none"}, "response_format.json_schema"),
        (
            {"tools": [tool], "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
            "tools[0].function.parameters",
        ),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            chat(client, max_tokens=8, **options)
        assert caught.value.body["param"].startswith(param)
        assert words in caught.value.body["message"]
    assert chat(client, tool_choice="none", max_tokens=2).choices[0].message.role == "assistant"


def test_text_completions(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="tiny", prompt=["SELECT", "FROM"], max_tokens=5)
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert all(choice.finish_reason in ("stop", "length") for choice in completion.choices)
    assert completion.usage.completion_tokens > 0
    chunks = list(
        client.completions.create(model="tiny", prompt="SELECT", max_tokens=5, stream=True)
    )
    assert chunks and all(chunk.object == "text_completion" for chunk in chunks)


def test_embeddings(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="tiny", input=["failed orders", "paid orders"])
    assert [item.index for item in result.data] == [0, 1]
    first, second = (item.embedding for item in result.data)
    assert len(first) == 64 and first != second
    floats = client.embeddings.create(model="tiny", input="x", encoding_format="float")
    assert len(floats.data[0].embedding) == 64
    with pytest.raises(openai.BadRequestError, match="does not serve embeddings"):
        client.embeddings.create(model="tiny-fc", input="x")


def test_an_input_longer_than_the_model_embeds_is_a_400(client: openai.OpenAI) -> None:
    """llama-cpp-python cut each input to its batch size (512 tokens) without a word, so a long
    text's vector stood for its opening only. An input is embedded whole up to the model's
    context (n_ctx 2048 here), and one past it is refused as OpenAI refuses it."""
    long, longer = ("orders " * words for words in (100, 101))  # ~700 tokens
    vectors = client.embeddings.create(model="tiny", input=[long, longer], encoding_format="float")
    assert vectors.data[0].embedding != vectors.data[1].embedding  # not cut to the same 512
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="tiny", input=["short", "orders " * 400])
    error = caught.value.body
    assert error["code"] == "context_length_exceeded" and error["param"] == "input", error
    assert error["message"].startswith(
        "input[1] is 2802 tokens long; model tiny embeds at most 2048"
    )


def test_nsql_returns_the_sql_and_its_result(sidecar: SidecarProcess) -> None:
    response = httpx.post(
        f"{sidecar.url}/v1/nsql",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"question": "How many orders failed?", "model": "tiny", "seed": 3},
        timeout=120,
    )
    body = response.json()
    assert body["sql"].split()[0].upper() in ("SELECT", "WITH")
    assert 1 <= len(body["attempts"]) <= 2
    if response.status_code == 200:
        assert "rows" in body and "columns" in body
    else:
        assert response.status_code == 422
        assert body["error"]["type"] == "sql_error" and body["error"]["message"]


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"messages": []}, "messages"),
        ({"temperature": 5}, "temperature"),
        ({"n": 2}, "n"),
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ],
)
def test_bad_requests_get_openai_errors(
    client: openai.OpenAI, options: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, **options)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == param
    assert caught.value.body["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
def test_a_prompt_longer_than_the_context_is_a_400(client: openai.OpenAI, stream: bool) -> None:
    long = [{"role": "user", "content": "orders " * 1500}]
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, messages=long, tool_choice="none", stream=stream)
    assert caught.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="tiny", prompt="orders " * 1500, stream=stream)


def test_unknown_and_unavailable_models(client: openai.OpenAI, sidecar: SidecarProcess) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        chat(client, model="gpt-17")
    assert caught.value.body["code"] == "model_not_found"
    with pytest.raises(openai.InternalServerError) as unavailable:
        chat(client, model="broken")
    assert unavailable.value.status_code == 503
    assert "missing.gguf" in unavailable.value.body["message"]
    raw = httpx.post(
        f"{sidecar.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        content=b"{not json",
        timeout=10,
    )
    assert raw.status_code == 400 and "not valid JSON" in raw.json()["error"]["message"]
    unnamed = httpx.post(  # was a 404 "The model 'None' does not exist"
        f"{sidecar.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert unnamed.status_code == 400 and unnamed.json()["error"]["param"] == "model"
    assert "model is required" in unnamed.json()["error"]["message"]
    half = httpx.post(  # was the codec's "'utf-8' codec can't encode character"
        f"{sidecar.url}/v1/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        content=b'{"model": "tiny", "prompt": "\\ud800", "max_tokens": 1}',
        timeout=10,
    )
    assert half.status_code == 400 and "surrogate pair" in half.json()["error"]["message"]


def test_auth_is_the_sql_apis(sidecar: SidecarProcess) -> None:
    wrong = openai.OpenAI(base_url=f"{sidecar.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.post(f"{sidecar.url}/v1/chat/completions", json={}).status_code == 401


def test_sql_keeps_answering_while_the_model_generates(
    client: openai.OpenAI, sidecar: SidecarProcess
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}

    def latencies(http: httpx.Client, count: int) -> list[float]:
        times = []
        for _ in range(count):
            started = time.perf_counter()
            assert http.post(f"{sidecar.url}/v1/sql", content=SQL, headers=headers).json() == [
                {"n": 50}
            ]
            times.append(time.perf_counter() - started)
        return times

    with httpx.Client(timeout=30) as http:
        idle = statistics.median(latencies(http, 20))
        stop = threading.Event()
        answered: list[int] = []

        def keep_chatting() -> None:
            while not stop.is_set():
                response = chat(client, tool_choice="none", max_tokens=1500, temperature=1.0)
                answered.append(response.usage.completion_tokens)

        chatters = [threading.Thread(target=keep_chatting) for _ in range(2)]
        for thread in chatters:
            thread.start()
        time.sleep(0.2)
        busy = latencies(http, 40)
        stop.set()
        for thread in chatters:
            thread.join()
    assert answered, "no chat completed while SQL ran"
    assert statistics.median(busy) < idle * 3 + 0.05, (idle, statistics.median(busy))
    assert max(busy) < 2.0


def test_requests_to_one_model_queue_and_all_complete(client: openai.OpenAI) -> None:
    results: list[str] = []

    def one(seed: int) -> None:
        results.append(chat(client, tool_choice="none", seed=seed).choices[0].finish_reason)

    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6


def test_status_and_metrics_show_the_models(sidecar: SidecarProcess) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    status = httpx.get(f"{sidecar.url}/v1/status", headers=headers).json()
    states = {model["id"]: model["state"] for model in status["models"]}
    assert states == {"tiny": "ready", "tiny-fc": "ready", "broken": "error"}
    metrics = httpx.get(f"{sidecar.url}/metrics", headers=headers).text
    assert 'sidecar_llm_requests_total{endpoint="chat",model="tiny",outcome="ok"}' in metrics
    assert 'sidecar_llm_model_ready{model="broken"} 0.0' in metrics
    assert 'sidecar_queries_total{identity="llm-agent",interface="llm",outcome="ok"}' in metrics
    cli = subprocess.run(
        [sys.executable, "-m", "sidecar", "status", "--url", sidecar.url, "--api-key", KEY],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert "tiny-fc" in cli.stdout and "broken" in cli.stdout


def counted(url: str, endpoint: str, outcome: str) -> float:
    """sidecar_llm_requests_total of model tiny for `endpoint` and `outcome`."""
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    series = f'sidecar_llm_requests_total{{endpoint="{endpoint}",model="tiny",outcome="{outcome}"}}'
    found = re.search(re.escape(series) + r" (\S+)", metrics)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    ("path", "endpoint", "body"),
    [
        ("/v1/completions", "completion", {"prompt": ["Once upon a time"] * 40, "max_tokens": 64}),
        (
            "/v1/chat/completions",
            "chat",
            {
                "messages": [{"role": "user", "content": "Tell a story"}],
                "max_tokens": 1500,
                "tool_choice": "none",
            },
        ),
    ],
)
def test_a_client_hanging_up_cancels_an_answer_written_whole(
    sidecar: SidecarProcess, path: str, endpoint: str, body: dict[str, object]
) -> None:
    """A non-streaming request whose client hangs up is cancelled (its queued prompts are
    never generated), as a streaming one is: it was generated to the end for nobody."""
    before = {o: counted(sidecar.url, endpoint, o) for o in ("ok", "canceled")}
    payload = json.dumps({"model": "tiny", "seed": 3, **body}).encode()
    host, port = "127.0.0.1", int(sidecar.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port)) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        conn.shutdown(socket.SHUT_WR)  # and gone, long before an answer
    settle(lambda: counted(sidecar.url, endpoint, "canceled") > before["canceled"], "cancel")
    assert counted(sidecar.url, endpoint, "ok") == before["ok"]
