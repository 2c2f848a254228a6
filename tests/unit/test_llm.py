"""sidecar.llm without a model: config, the queue, the data tools, request parsing, and a
sidecar whose configured model cannot load (llama-cpp-python missing) that still serves SQL."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import get_args

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from policies.identity import ANONYMOUS_IDENTITY, Identity
from sidecar.config import ConfigError, DataTool, ModelParams, SidecarConfig, parse_config
from sidecar.datatools import MAX_CELL
from sidecar.engine import Engine
from sidecar.gateway import AuditLog, Gateway
from sidecar.llm.agent import ChatAgent
from sidecar.llm.models import LoadError, ModelEntry, ModelState, gguf_path
from sidecar.llm.nsql import describe_tables
from sidecar.llm.openai import ChatRequest, Function, OpenAIError, Tool, coalesce, parse
from sidecar.llm.queue import ModelQueue, QueueFull
from sidecar.llm.tools import MAX_ROWS, TOOL_NAMES, ModelTools
from sidecar.metrics import Metrics
from sidecar.runtime import Sidecar

WHO = Identity("tester")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> SidecarConfig:
    root: Path = tmp_path_factory.mktemp("llm-unit")
    orders = pa.table(
        {
            "id": pa.array(range(500), pa.int64()),
            "status": ["failed" if i % 5 == 0 else "paid" for i in range(500)],
            "note": ["x" * 1000 if i == 0 else "ok" for i in range(500)],
        }
    )
    pq.write_table(orders, root / "orders.parquet")
    return parse_config(
        {
            "name": "shop",
            "datasets": [
                {"from": "file:orders.parquet", "name": "orders", "description": "All orders"}
            ],
            "views": [{"name": "failed", "sql": "SELECT * FROM orders WHERE status = 'failed'"}],
            "models": [{"from": "file:nowhere.gguf", "name": "local"}],
        },
        root,
    )


@pytest.fixture(scope="module")
def tools(config: SidecarConfig) -> ModelTools:
    engine = Engine(config)
    engine.load()
    return ModelTools(Gateway(engine, Metrics(engine), AuditLog(None, config.base_dir)))


def call(tools: ModelTools, name: str, arguments: object) -> tuple[dict[str, object], bool]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    outcome = asyncio.run(tools.call("call_1", name, text, WHO))
    return json.loads(outcome.content), outcome.ok


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"from": "hf:org/model", "name": "m"}, "models[0].from: 'hf:org/model' must be file:"),
        ({"from": "file:m.gguf", "name": "has space"}, "models[0].name: String should match"),
        (
            {"from": "file:m.gguf", "name": "m", "params": {"tools": ["sql", "drop"]}},
            "models[0].params.tools: unknown tool drop; known: list_datasets",
        ),
        ({"from": "file:m.gguf", "name": "m", "params": {"n_ctx": 1}}, "models[0].params.n_ctx"),
        ({"from": "file:m.gguf", "name": "m", "params": {"ctx": 1}}, "params.ctx: unknown key"),
    ],
)
def test_model_config_errors_are_located(model: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse_config({"models": [model]})
    assert message in str(caught.value)


def test_duplicate_model_names_and_tool_names_agree() -> None:
    with pytest.raises(ConfigError, match=r"models\[1\].name: 'm' is already used by models\[0\]"):
        parse_config(
            {"models": [{"from": "file:a.gguf", "name": "m"}, {"from": "file:b.gguf", "name": "m"}]}
        )
    assert get_args(DataTool) == TOOL_NAMES


def test_queue_runs_one_job_at_a_time_in_order_off_the_loop() -> None:
    queue = ModelQueue("q", size=8)
    running = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def job(index: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        order.append(index)
        with lock:
            running -= 1
        return threading.get_ident()

    async def main() -> list[int]:
        return await asyncio.gather(*(queue.run(lambda i=i: job(i)) for i in range(5)))

    threads = asyncio.run(main())
    assert peak == 1 and order == [0, 1, 2, 3, 4]
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()
    queue.close()


def test_queue_streams_items_and_reports_errors() -> None:
    queue = ModelQueue("q", size=2)

    def produce() -> Iterator[str]:
        yield "a"
        yield "b"
        raise OpenAIError(400, "too long")

    async def main() -> list[str]:
        seen = []
        with pytest.raises(OpenAIError, match="too long"):
            async with aclosing(queue.stream(produce)) as items:
                async for item in items:
                    seen.append(item)
        return seen

    assert asyncio.run(main()) == ["a", "b"]
    queue.close()


def test_a_full_queue_refuses_and_a_gone_caller_stops_its_job() -> None:
    queue = ModelQueue("q", size=1)
    release = threading.Event()
    produced: list[int] = []

    def endless() -> Iterator[int]:
        for index in range(1000):
            time.sleep(0.01)
            produced.append(index)
            yield index

    async def main() -> None:
        blocker = asyncio.create_task(queue.run(lambda: release.wait(5)))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(queue.run(lambda: 1))
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull):
            await queue.run(lambda: 2)
        release.set()
        await blocker
        assert await waiting == 1
        async with aclosing(queue.stream(endless)) as items:
            async for item in items:
                if item == 2:
                    break

    asyncio.run(main())
    time.sleep(0.1)
    assert len(produced) < 10
    queue.close()


def test_sql_tool_reads_the_dataset_and_cuts_large_results(tools: ModelTools) -> None:
    result, ok = call(tools, "sql", {"sql": "SELECT status, count(*) AS n FROM orders GROUP BY 1"})
    assert ok and result["columns"] == ["status", "n"]
    assert sorted(result["rows"]) == [["failed", 100], ["paid", 400]]
    many, ok = call(tools, "sql", {"sql": "SELECT id, note FROM orders ORDER BY id"})
    assert ok and len(many["rows"]) == MAX_ROWS and "first 50 rows" in many["truncated"]
    assert (
        many["rows"][0][1].startswith("x" * MAX_CELL)
        and "800 more characters" in many["rows"][0][1]
    )


def test_tool_errors_go_back_to_the_model(tools: ModelTools) -> None:
    refused, ok = call(tools, "sql", {"sql": "DROP TABLE orders"})
    assert not ok and refused["error"]["code"] == "forbidden"
    unknown, ok = call(tools, "sql", {"sql": "SELECT * FROM ordres"})
    assert not ok and "did you mean orders" in unknown["error"]["hint"]
    garbled, ok = call(tools, "sample_data", "{not json")
    assert not ok and "not valid JSON" in garbled["error"]["message"]
    missing, ok = call(tools, "table_schema", {})
    assert not ok and "needs a 'table'" in missing["error"]["message"]
    huge, ok = call(tools, "table_schema", {"table": "x" * 100_000})
    assert not ok and len(json.dumps(huge)) < 500 and "100000 characters" in json.dumps(huge)
    stranger, ok = call(tools, "rm_rf", {})
    assert not ok and "unknown tool" in stranger["error"]["message"]


def test_catalog_tools(tools: ModelTools) -> None:
    listed, ok = call(tools, "list_datasets", {})
    assert ok and listed["tables"] == [
        {"name": "failed", "kind": "view", "description": None, "rows": None},
        {"name": "orders", "kind": "dataset", "description": "All orders", "rows": 500},
    ]
    schema, ok = call(tools, "table_schema", {"table": "orders"})
    assert ok and [(column["name"], column["type"]) for column in schema["columns"]] == [
        ("id", "bigint"),
        ("status", "text"),
        ("note", "text"),
    ]
    assert schema["rows"] == 500 and schema["freshness"]["state"] == "ready"
    sample, ok = call(tools, "sample_data", {"table": "failed", "limit": 500})
    assert ok and len(sample["rows"]) == 20 and sample["rows"][0][0] == 0
    specs = {
        spec["function"]["name"]: spec["function"]
        for spec in tools.specs(["sql", "x"], ANONYMOUS_IDENTITY)
    }
    assert list(specs) == ["sql"] and "orders: All orders" in specs["sql"]["description"]
    [sample_spec] = tools.specs(["sample_data"], ANONYMOUS_IDENTITY)
    table = sample_spec["function"]["parameters"]["properties"]["table"]
    assert table["enum"] == ["failed", "orders"]


def test_request_parsing_names_the_parameter() -> None:
    with pytest.raises(OpenAIError) as caught:
        parse(ChatRequest, b'{"messages": [{"role": "user", "content": "hi"}], "top_p": 3}')
    assert caught.value.status == 400 and caught.value.param == "top_p"
    with pytest.raises(OpenAIError, match="is required"):
        parse(ChatRequest, b"{}")
    with pytest.raises(OpenAIError, match="not supported"):
        parse(ChatRequest, b'{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}')
    request = parse(
        ChatRequest,
        b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}],'
        b' "max_completion_tokens": 9, "user": "ignored"}',
    )
    assert request.messages[0].text == "a" and request.sampling() == {"max_tokens": 9}


def test_model_sources(tmp_path: Path, config: SidecarConfig) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        gguf_path(config.models[0], tmp_path)
    missing = parse_config({"models": [{"from": "pypi:no-such-model-gguf", "name": "m"}]})
    with pytest.raises(LoadError, match="pip install no-such-model-gguf"):
        gguf_path(missing.models[0], tmp_path)


def test_without_llama_cpp_the_model_errors_and_sql_still_works(
    config: SidecarConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    entry = ModelEntry(config.models[0], config.base_dir)
    entry.load()
    assert entry.state is ModelState.ERROR
    assert "llama-cpp-python is not installed" in (entry.error or "")
    assert "agent-sidecar[llm]" in (entry.error or "")

    sidecar = Sidecar(config)
    sidecar.engine.load()
    sidecar.models.load()
    with TestClient(sidecar.http.app()) as client:
        assert client.post("/v1/sql", content="SELECT count(*) AS n FROM orders").json() == [
            {"n": 500}
        ]
        chat = client.post(
            "/v1/chat/completions",
            json={"model": "local", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chat.status_code == 503
        assert chat.json()["error"]["code"] == "model_unavailable"
        assert "llama-cpp-python is not installed" in chat.json()["error"]["message"]
        status = client.get("/v1/status").json()
        assert status["models"][0]["state"] == "error"
    sidecar.models.close()


def test_stream_chunks_coalesce_while_tokens_come_fast() -> None:
    def chat(*texts: str) -> Iterator[dict[str, object]]:
        yield {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
        for text in texts:
            yield {"choices": [{"delta": {"content": text}, "finish_reason": None}]}
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}

    each = [c["choices"][0] for c in coalesce(chat("a", "b", "c"), interval=0)]
    assert [c["delta"].get("content") for c in each] == [None, "a", "b", "c", None]
    merged = [c["choices"][0] for c in coalesce(chat("a", "b", "c"), interval=60)]
    assert merged == [
        {"delta": {"role": "assistant"}, "finish_reason": None},
        {"delta": {"content": "abc"}, "finish_reason": "stop"},
    ]
    text = ({"choices": [{"text": t, "finish_reason": None}]} for t in "xyz")
    assert [c["choices"][0]["text"] for c in coalesce(text, interval=60)] == ["x", "yz"]


def test_conversation_renders_for_any_template_and_tools_are_planned(
    config: SidecarConfig, tools: ModelTools
) -> None:
    model = config.models[0].model_copy(
        update={"params": ModelParams(system_prompt="Use the data.", tools=["sql"])}
    )
    agent = ChatAgent(ModelEntry(model, config.base_dir), tools, WHO)
    request = parse(
        ChatRequest,
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "failed?"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c1", "function": {"name": "lookup", "arguments": "{}"}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c1", "content": "42"},
                ],
                "tools": [{"type": "function", "function": {"name": "lookup"}}],
                "tool_choice": {"type": "function", "function": {"name": "sql"}},
            }
        ).encode(),
    )
    assert agent._conversation(request.messages) == [
        {"role": "system", "content": "Use the data."},
        {"role": "user", "content": "failed?"},
        {"role": "assistant", "content": "Called lookup with {}"},
        {"role": "user", "content": "Result of lookup:\n42"},
    ]
    offered, builtin, choice = agent._tool_plan(request)
    assert [tool["function"]["name"] for tool in offered] == ["sql", "lookup"]
    assert builtin == {"sql"} and choice == request.tool_choice
    clash = request.model_copy(update={"tools": [Tool(function=Function(name="sql"))]})
    with pytest.raises(OpenAIError, match="built-in data tool"):
        agent._tool_plan(clash)
    several = request.model_copy(update={"tool_choice": "required"})
    with pytest.raises(OpenAIError, match="name one of: sql, lookup"):
        agent._tool_plan(several)
    agent.model.queue.close()


def test_nsql_prompt_holds_only_what_the_caller_sees(config: SidecarConfig) -> None:
    policies = [
        {"identities": ["narrow"], "datasets": ["failed"]},
        {"identities": ["*"], "datasets": ["*"]},
    ]
    guarded = parse_config(
        {**config.model_dump(by_alias=True, exclude_none=True), "policies": policies},
        config.base_dir,
    )
    engine = Engine(guarded)
    engine.load()
    tools = ModelTools(Gateway(engine, Metrics(engine), AuditLog(None, config.base_dir)))
    wide = asyncio.run(describe_tables(tools, WHO, ""))
    narrow = asyncio.run(describe_tables(tools, Identity("narrow"), ""))
    assert wide.splitlines() == [
        "failed(id bigint, status text, note text)",
        "orders(id bigint, status text, note text) -- All orders",
    ]
    assert narrow == "failed(id bigint, status text, note text)"
