"""MCP through a real `sidecar run`, driven by the official SDK's own client: over streamable
HTTP at /v1/mcp, and over stdio through `sidecar mcp` (a subprocess proxying to it). Every
answer is checked against the HTTP API's answer to the same question."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests import exact_values
from tests.process import SidecarProcess, free_port

KEY = "k-mcp-5d21c7"
OTHER_KEY = "k-mcp-other-80ab"
NARROW_KEY = "k-mcp-narrow-11fe"
INITIALIZE = {  # the handshake that opens a session, as a raw JSON-RPC request
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
TOOLS = ["list_datasets", "describe_dataset", "sql", "sample", "search", "explain"]
GUIDES = {
    "pool.md": "# Payment pool exhaustion\n\nCheckout requests hang waiting for a connection "
    "from the payment pool.\n\n## Fix\n\nRestore PAYMENT_POOL_SIZE=50.\n",
    "disk.md": "# Disk full\n\nThe log volume fills up. Rotate old logs.\n",
    "dns.md": "# DNS failures\n\nPods cannot resolve service names.\n",
}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    root = tmp_path_factory.mktemp("mcp")
    orders = pa.table(
        {
            "id": pa.array(range(200), pa.int64()),
            "status": ["failed" if i % 4 == 0 else "paid" for i in range(200)],
            "amount": [float(i % 50) + 0.5 for i in range(200)],
            "note": ["x" * 300 if i == 0 else f"n{i}" for i in range(200)],
        }
    )
    pq.write_table(orders, root / "orders.parquet")
    (root / "guides").mkdir()
    for name, text in GUIDES.items():
        (root / "guides" / name).write_text(text)
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: mcp-test
            runtime:
              http: {{port: {port}}}
              auth:
                api_keys:
                  - {{key: "${{env:AGENT_KEY}}", identity: agent}}
                  - {{key: "{OTHER_KEY}", identity: other}}
                  - {{key: "{NARROW_KEY}", identity: narrow}}
            datasets:
              - from: file:orders.parquet
                name: orders
                description: Every order of the day
                columns:
                  - {{name: id, type: bigint, description: the order number}}
                  - {{name: status, type: text, description: paid or failed}}
                  - {{name: amount, type: double}}
                  - {{name: note, type: text}}
              - from: file:guides
                name: guides
                description: Runbooks
                search: {{text: [title, content], key: path}}
            views:
              - name: failed
                description: Failed orders
                sql: SELECT id, amount FROM orders WHERE status = 'failed'
            policies:
              - {{identities: [narrow], datasets: [orders], columns: {{orders.note: deny}}}}
              - {{identities: ["*"], datasets: ["*"]}}
            audit: {{path: audit.jsonl}}
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml", env={"AGENT_KEY": KEY})
    process.start(port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        datasets = http_json(process, "GET", "/v1/status")["datasets"]
        if [d["search"]["state"] for d in datasets if "search" in d] == ["ready"]:
            break
        time.sleep(0.1)
    try:
        yield process
    finally:
        process.stop()


def http_json(
    sidecar: SidecarProcess, method: str, path: str, key: str = KEY, **kwargs: Any
) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.request(method, sidecar.url + path, headers=headers, timeout=30, **kwargs).json()


def sql_rows(sidecar: SidecarProcess, sql: str) -> Any:
    return http_json(sidecar, "POST", "/v1/sql", json={"sql": sql})


@asynccontextmanager
async def connect(url: str, key: str | None = KEY, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/v1/mcp", http_client=http), mode=mode) as client,
    ):
        yield client


@asynccontextmanager
async def stdio(sidecar: SidecarProcess, key: str = KEY) -> AsyncIterator[Client]:
    env = {**os.environ, "SIDECAR_API_KEY": key}
    command = [sys.executable, "-m", "sidecar", "mcp", "--url", sidecar.url]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with Client(params) as client:
        yield client


def records(result: types.CallToolResult) -> list[dict[str, Any]]:
    assert not result.is_error, result.content
    content = result.structured_content
    return [dict(zip(content["columns"], row, strict=True)) for row in content["rows"]]


def error(result: types.CallToolResult) -> dict[str, Any]:
    assert result.is_error
    [text] = result.content
    assert isinstance(text, types.TextContent)
    assert json.loads(text.text) == result.structured_content
    return result.structured_content["error"]


async def check_tools(client: Client, sidecar: SidecarProcess) -> None:
    """Every tool, answered as the HTTP API answers the same question."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(listed) == TOOLS
    describe = listed["describe_dataset"].input_schema
    assert describe["required"] == ["dataset"]
    assert describe["properties"]["dataset"]["enum"] == ["failed", "guides", "orders"]
    assert listed["search"].input_schema["properties"]["datasets"]["items"]["enum"] == ["guides"]
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in listed.values())

    datasets = (await client.call_tool("list_datasets", {})).structured_content["datasets"]
    api = {item["name"]: item for item in http_json(sidecar, "GET", "/v1/datasets")}
    assert [d["name"] for d in datasets] == sorted(api)
    assert all(d["description"] == api[d["name"]]["description"] for d in datasets)
    assert {d["name"]: d["kind"] for d in datasets} == {n: i["kind"] for n, i in api.items()}

    described = await client.call_tool("describe_dataset", {"dataset": "orders"})
    described = described.structured_content
    assert [(c["name"], c["type"]) for c in described["columns"]] == [
        (c["name"], c["type"]) for c in api["orders"]["columns"]
    ]
    assert described["columns"][0]["description"] == "the order number"
    status = http_json(sidecar, "GET", "/v1/status")["datasets"][0]
    assert described["rows"] == status["rows"] == 200
    assert described["freshness"]["state"] == "ready"
    assert described["freshness"]["served"].startswith("live")

    query = "SELECT status, count(*) AS n, sum(amount) AS total FROM orders GROUP BY 1 ORDER BY 1"
    answer = await client.call_tool("sql", {"sql": query})
    assert records(answer) == sql_rows(sidecar, query)
    [text] = answer.content
    assert isinstance(text, types.TextContent)
    assert text.text.startswith("| status | n | total |\n|---|---|---|\n| failed | 50 |")
    assert text.text.endswith("(2 rows)")

    cut = await client.call_tool("sql", {"sql": "SELECT id FROM orders ORDER BY id", "max_rows": 5})
    assert records(cut) == sql_rows(sidecar, "SELECT id FROM orders ORDER BY id LIMIT 5")
    assert cut.structured_content["truncated"] and "the first 5 rows" in cut.content[0].text

    sample = await client.call_tool("sample", {"dataset": "failed", "rows": 3})
    assert records(sample) == sql_rows(sidecar, "SELECT * FROM failed LIMIT 3")

    search = {"datasets": ["guides"], "text": "payment pool", "limit": 2}
    hits = (await client.call_tool("search", search)).structured_content["hits"]
    expected = http_json(sidecar, "POST", "/v1/search", json=search)["hits"]
    assert [(h["key"], h["score"], h["snippet"]) for h in hits] == [
        (h["key"], h["score"], h["snippet"]) for h in expected
    ]
    assert hits[0]["key"] == "pool.md"

    query = "SELECT id FROM orders WHERE amount > 40 LIMIT 3"
    plans = (await client.call_tool("explain", {"sql": query})).structured_content["plans"]
    assert plans == sql_rows(sidecar, f"EXPLAIN {query}")
    assert "filter=" in plans[0]["plan"]


async def check_errors(client: Client, sidecar: SidecarProcess) -> None:
    """A tool that fails is a tool error carrying /v1/sql's error body; a tool that does not
    exist is a protocol error."""
    for query in ("SELECT nope FROM orders", "SELEC 1", "DROP TABLE orders", "SELECT * FROM ordr"):
        expected = sql_rows(sidecar, query)["error"]
        assert error(await client.call_tool("sql", {"sql": query})) == expected
    unknown = error(await client.call_tool("sql", {"sql": "SELECT nope FROM orders"}))
    assert unknown["position"] == 8 and "orders.amount" in unknown["hint"]
    explained = error(await client.call_tool("explain", {"sql": "SELECT nope FROM orders"}))
    assert explained == unknown
    bad = error(await client.call_tool("sample", {"dataset": "orders", "rows": 99}))
    assert bad["message"].startswith("rows: ") and bad["code"] == "invalid_request"
    search = error(await client.call_tool("search", {"datasets": ["guides"], "text": '"pool'}))
    assert search["code"] == "syntax_error" and search["message"].startswith("text: ")
    with pytest.raises(MCPError, match="unknown tool 'drop'; the tools are: list_datasets"):
        await client.call_tool("drop", {})


async def check_resources(client: Client, sidecar: SidecarProcess) -> None:
    resources = (await client.list_resources()).resources
    assert [r.uri for r in resources] == [
        "dataset://failed",
        "dataset://guides",
        "dataset://orders",
        "sidecar://status",
    ]
    assert resources[2].description == "Every order of the day"
    [orders] = (await client.read_resource("dataset://orders")).contents
    assert isinstance(orders, types.TextResourceContents) and orders.mime_type == "application/json"
    described = await client.call_tool("describe_dataset", {"dataset": "orders"})
    assert json.loads(orders.text) == described.structured_content
    [status] = (await client.read_resource("sidecar://status")).contents
    assert isinstance(status, types.TextResourceContents)
    expected = http_json(sidecar, "GET", "/v1/status")
    assert json.loads(status.text)["datasets"][0]["rows"] == expected["datasets"][0]["rows"]
    with pytest.raises(MCPError, match='relation "ordr" does not exist; did you mean orders'):
        await client.read_resource("dataset://ordr")
    [prompt] = (await client.list_prompts()).prompts
    assert prompt.name == "investigate_incident"
    assert [(a.name, a.required) for a in prompt.arguments or []] == [
        ("symptom", True),
        ("window", False),
    ]
    got = await client.get_prompt(prompt.name, {"symptom": "checkout failing"})
    [message] = got.messages
    assert isinstance(message.content, types.TextContent)
    assert message.content.text.startswith("Investigate this incident: checkout failing")
    with pytest.raises(MCPError, match="needs the symptom argument"):
        await client.get_prompt(prompt.name, {})


def test_decimals_are_exact(sidecar: SidecarProcess) -> None:
    """A tool's rows carry decimals as /v1/sql does: exact strings, in the data and the text."""

    async def main() -> None:
        async with connect(sidecar.url) as client:
            answer = await client.call_tool("sql", {"sql": exact_values.QUERY})
            assert records(answer) == [exact_values.ROW] == sql_rows(sidecar, exact_values.QUERY)
            [text] = answer.content
            assert isinstance(text, types.TextContent)
            assert "| " + " | ".join(map(str, exact_values.ROW.values())) + " |" in text.text

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_streamable_http(sidecar: SidecarProcess, mode: str) -> None:
    """The 2026 per-request protocol (the SDK's default) and the initialize handshake that
    desktop clients still speak."""

    async def main() -> None:
        async with connect(sidecar.url, mode=mode) as client:
            assert client.instructions and "list_datasets" in client.instructions
            await check_tools(client, sidecar)
            await check_errors(client, sidecar)
            await check_resources(client, sidecar)

    asyncio.run(main())


def test_stdio_proxy(sidecar: SidecarProcess) -> None:
    async def main() -> None:
        async with stdio(sidecar) as client:
            await check_tools(client, sidecar)
            await check_errors(client, sidecar)
            await check_resources(client, sidecar)
        async with stdio(sidecar, key="wrong") as client:
            with pytest.raises(MCPError, match="the API key is not valid; check the key"):
                await client.list_tools()

    asyncio.run(main())


def test_auth_is_the_http_apis(sidecar: SidecarProcess) -> None:
    """No key or a wrong one: refused before MCP, with a JSON-RPC error an MCP client shows,
    audited as a failed login on the mcp interface."""

    async def refused(key: str | None) -> str:
        with pytest.raises(Exception) as caught:  # the SDK raises it inside its task groups
            async with connect(sidecar.url, key=key):
                pass
        errors = caught.value.exceptions if isinstance(caught.value, BaseExceptionGroup) else ()
        while errors and isinstance(errors[0], BaseExceptionGroup):
            errors = errors[0].exceptions
        cause = errors[0] if errors else caught.value
        assert isinstance(cause, MCPError)
        return str(cause)

    required = asyncio.run(refused(None))
    assert "an API key is required; send 'Authorization: Bearer <key>'" in required
    assert "the API key is not valid" in asyncio.run(refused("wrong-key"))
    response = httpx.post(sidecar.url + "/v1/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "x"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["data"]["code"] == "unauthenticated"
    lines = [json.loads(line) for line in (sidecar.config.parent / "audit.jsonl").open()]
    assert any(r["decision"] == "auth_failed" and r["interface"] == "mcp" for r in lines)


def test_calls_are_audited_as_mcp(sidecar: SidecarProcess) -> None:
    marker = "m-audit-3f9"

    async def main() -> None:
        async with connect(sidecar.url) as client:
            await client.call_tool("sql", {"sql": f"SELECT '{marker}' AS m, count(*) FROM orders"})

    asyncio.run(main())
    audit = sidecar.config.parent / "audit.jsonl"
    deadline = time.monotonic() + 5
    while marker not in audit.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = [r for r in map(json.loads, audit.open()) if marker in (r.get("sql") or "")]
    assert record["interface"] == "mcp" and record["identity"] == "agent"
    assert record["decision"] == "ok" and record["datasets"] == ["orders"] and record["client"]
    metrics = httpx.get(sidecar.url + "/metrics", headers={"Authorization": f"Bearer {KEY}"})
    assert 'sidecar_queries_total{identity="agent",interface="mcp",outcome="ok"}' in metrics.text


def test_concurrent_sessions(sidecar: SidecarProcess) -> None:
    """Sessions in both protocol versions at once, each with its own answers; a handshake
    session answers only the key that opened it."""

    async def session(number: int) -> list[dict[str, Any]]:
        async with connect(sidecar.url, mode="legacy" if number % 2 else "auto") as client:
            query = f"SELECT {number} AS k, count(*) AS n FROM orders WHERE id < {number * 10}"
            return records(await client.call_tool("sql", {"sql": query}))

    async def main() -> list[list[dict[str, Any]]]:
        return await asyncio.gather(*(session(number) for number in range(1, 7)))

    assert asyncio.run(main()) == [[{"k": n, "n": n * 10}] for n in range(1, 7)]

    accept = {"Accept": "application/json, text/event-stream"}
    opened = httpx.post(
        sidecar.url + "/v1/mcp",
        json=INITIALIZE,
        headers={**accept, "Authorization": f"Bearer {KEY}"},
    )
    session_id = opened.headers["mcp-session-id"]
    assert opened.status_code == 200 and session_id
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    for key, status in ((OTHER_KEY, 404), (KEY, 200)):
        headers = {**accept, "Authorization": f"Bearer {key}", "mcp-session-id": session_id}
        headers["mcp-protocol-version"] = "2025-11-25"
        answer = httpx.post(sidecar.url + "/v1/mcp", json=listing, headers=headers)
        assert answer.status_code == status, answer.text


def test_what_a_restricted_identity_sees(sidecar: SidecarProcess) -> None:
    """A policy that shows `narrow` only orders, without its note column: the other datasets
    are absent from every tool, resource and error, as from the HTTP API."""

    async def main() -> None:
        async with connect(sidecar.url, key=NARROW_KEY) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert list(listed) == ["list_datasets", "describe_dataset", "sql", "sample", "explain"]
            schema = listed["sample"].input_schema
            assert schema["properties"]["dataset"]["enum"] == ["orders"]
            datasets = (await client.call_tool("list_datasets", {})).structured_content
            expected = http_json(sidecar, "GET", "/v1/datasets", key=NARROW_KEY)
            assert [d["name"] for d in datasets["datasets"]] == ["orders"]
            assert [d["name"] for d in expected] == ["orders"]
            described = await client.call_tool("describe_dataset", {"dataset": "orders"})
            columns = [column["name"] for column in described.structured_content["columns"]]
            assert columns == [c["name"] for c in expected[0]["columns"]]
            assert columns == ["id", "status", "amount"]
            resources = [r.uri for r in (await client.list_resources()).resources]
            assert resources == ["dataset://orders", "sidecar://status"]
            [status] = (await client.read_resource("sidecar://status")).contents
            assert isinstance(status, types.TextResourceContents)
            assert [d["name"] for d in json.loads(status.text)["datasets"]] == ["orders"]
            with pytest.raises(MCPError, match='relation "guides" does not exist'):
                await client.read_resource("dataset://guides")
            for name, arguments in (
                ("sql", {"sql": "SELECT * FROM guides"}),
                ("describe_dataset", {"dataset": "failed"}),
                ("sample", {"dataset": "guides"}),
                ("search", {"datasets": ["guides"], "text": "pool"}),
            ):
                hint = error(await client.call_tool(name, arguments)).get("hint", "")
                assert "guides" not in hint and "failed" not in hint, (name, hint)
            sql = {"sql": "SELECT * FROM guides"}
            hidden = error(await client.call_tool("sql", sql))
            assert (
                hidden == http_json(sidecar, "POST", "/v1/sql", key=NARROW_KEY, json=sql)["error"]
            )

    asyncio.run(main())


def test_one_identity_cannot_hold_every_session(sidecar: SidecarProcess) -> None:
    """The SDK caps sessions for the whole server (10,000, kept 30 idle minutes): an identity
    opening them in a loop is refused at its share with a 429, others still open theirs, and
    a closed session frees its place."""
    accept = {"Accept": "application/json, text/event-stream"}
    url = sidecar.url + "/v1/mcp"
    with httpx.Client(timeout=30, headers={**accept, "Authorization": f"Bearer {NARROW_KEY}"}) as c:
        opened = []
        for _ in range(300):
            answer = c.post(url, json=INITIALIZE)
            if answer.status_code != 200:
                break
            opened.append(answer.headers["mcp-session-id"])
        assert len(opened) == 256 and answer.status_code == 429, answer.text
        assert "256 open MCP sessions" in answer.json()["error"]["message"]
        other = httpx.post(
            url, json=INITIALIZE, headers={**accept, "Authorization": f"Bearer {OTHER_KEY}"}
        )
        assert other.status_code == 200
        for session in opened:
            c.delete(url, headers={"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"})
        assert c.post(url, json=INITIALIZE).status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([INITIALIZE, {**INITIALIZE, "id": 2}], "batches are not supported"),
        ({**INITIALIZE, "id": None}, "the id null is not a string or an integer"),
        ({**INITIALIZE, "id": {"n": 1}}, 'the id {"n": 1} is not a string or an integer'),
    ],
)
def test_malformed_envelopes_are_invalid_requests(
    sidecar: SidecarProcess, body: Any, says: str
) -> None:
    """A batch (gone from MCP since 2025-06-18) and a request whose id is neither a string nor
    an integer get a short JSON-RPC -32600 saying what to send instead, not the SDK's pydantic
    dump or a silent 202."""
    answer = httpx.post(
        sidecar.url + "/v1/mcp",
        json=body,
        headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {KEY}"},
    )
    assert answer.status_code == 400, answer.text
    failure = answer.json()
    assert failure["id"] is None and failure["error"]["code"] == -32600, failure
    assert says in failure["error"]["message"], failure
    assert len(failure["error"]["message"]) < 300 and "pydantic" not in answer.text


@pytest.mark.parametrize("params", [[], ["sql"], 5, "x"])
def test_params_that_are_not_an_object_are_invalid_params_of_that_request(
    sidecar: SidecarProcess, params: Any
) -> None:
    """MCP takes named parameters only: params that were an array or a scalar came back as
    the SDK's pydantic dump of four validation errors, with the request's id lost (null)."""
    answer = httpx.post(
        sidecar.url + "/v1/mcp",
        json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params},
        headers={"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {KEY}"},
    )
    assert answer.status_code == 400, answer.text
    failure = answer.json()
    assert failure["id"] == 7 and failure["error"]["code"] == -32602, failure
    assert "params of 'tools/call'" in failure["error"]["message"], failure
    assert "JSON object" in failure["error"]["message"], failure
    assert len(failure["error"]["message"]) < 300 and "pydantic" not in answer.text


def test_stdio_proxy_answers_lines_that_are_not_messages(sidecar: SidecarProcess) -> None:
    """A line that is not JSON, or JSON that is no JSON-RPC message, got no answer at all
    over stdio (the SDK only logs it): a client waiting on it waited for ever. Now it gets
    JSON-RPC's parse error or invalid request, as /v1/mcp gives, and the proxy goes on. A
    request whose params are not an object was answered with id null: it gets its error
    under its own id."""
    lines = [
        json.dumps(INITIALIZE),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        "not json at all",
        "[1, 2]",
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": []}),
        json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    ]
    command = [sys.executable, "-m", "sidecar", "mcp", "--url", sidecar.url]
    proxy = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SIDECAR_API_KEY": KEY},
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    answers = []
    deadline = threading.Timer(60, proxy.kill)  # a proxy that never answers fails, not hangs
    deadline.start()
    try:  # stdin stays open until every answer is read, as an MCP client keeps it
        proxy.stdin.write("\n".join(lines) + "\n")
        proxy.stdin.flush()
        while len(answers) < 5:
            line = proxy.stdout.readline()
            assert line, f"the proxy ended after {answers}"
            answers.append(json.loads(line))
    finally:
        deadline.cancel()
        proxy.stdin.close()
        proxy.wait(timeout=60)
    errors = [answer["error"]["code"] for answer in answers if "error" in answer]
    assert errors == [-32700, -32600, -32602], answers
    [invalid_params] = [answer for answer in answers if answer.get("id") == 3]
    assert "params of 'tools/list' are an array" in invalid_params["error"]["message"]
    assert {"jsonrpc": "2.0", "id": 2, "result": {}} in answers


def endless(marker: int) -> str:
    """An aggregate that would run for hours (numbered, to find its own audit line)."""
    return (
        f"SELECT count(*) AS n FROM generate_series(1, 1000000000000) g(x) WHERE x % 9 = {marker}"
    )


def cpu_seconds(sidecar: SidecarProcess) -> float:
    assert sidecar.process is not None
    fields = Path(f"/proc/{sidecar.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_stopped(sidecar: SidecarProcess, sql: str) -> None:
    """The statement ended as cancelled, and the sidecar is idle again."""
    audit = sidecar.config.parent / "audit.jsonl"
    deadline = time.monotonic() + 10
    while sql not in audit.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [r for r in map(json.loads, audit.open()) if r.get("sql") == sql]
    assert [line["code"] for line in lines] == ["canceled"], lines
    time.sleep(1.0)  # a cancel reaches DataFusion's pull within a second
    before = cpu_seconds(sidecar)
    time.sleep(2.0)
    assert cpu_seconds(sidecar) - before < 0.3, "the query ran on for a client gone"


def test_a_client_hanging_up_stops_its_tool_call(sidecar: SidecarProcess) -> None:
    """An MCP client that closes its connection while a tool call runs (it gave up, or it
    died) left the query running to its timeout for nobody: the HTTP API, Flight and the
    Postgres wire stop theirs."""
    sql = endless(1)
    headers = {"Authorization": f"Bearer {KEY}", "Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=sidecar.url, headers=headers, timeout=30) as http:
        opened = http.post("/v1/mcp", json=INITIALIZE)
        session = {
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": INITIALIZE["params"]["protocolVersion"],  # type: ignore[index]
        }
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        http.post("/v1/mcp", json=initialized, headers=session)
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "sql", "arguments": {"sql": sql}},
        }
        with http.stream("POST", "/v1/mcp", json=call, headers=session) as answer:
            assert answer.status_code == 200
            time.sleep(0.5)
        # leaving the stream unread closes the connection
    assert_stopped(sidecar, sql)


def proxy(sidecar: SidecarProcess) -> subprocess.Popen[str]:
    """`sidecar mcp` driven by raw lines, as a client that launches it drives it."""
    command = [sys.executable, "-m", "sidecar", "mcp", "--url", sidecar.url]
    env = {**os.environ, "SIDECAR_API_KEY": KEY}
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )


def tool_call(number: int, sql: str) -> str:
    params = {"name": "sql", "arguments": {"sql": sql}}
    return json.dumps({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": params})


def test_stdio_proxy_answers_what_it_was_sent_before_stdin_closed(sidecar: SidecarProcess) -> None:
    """A client that writes its requests and closes stdin (a script piping them in) lost the
    answers still being worked on: the SDK's stdio server ends at end of input. The proxy now
    answers every request it read, then exits."""
    started = proxy(sidecar)
    lines = [
        json.dumps(INITIALIZE),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        tool_call(2, "SELECT count(*) AS n FROM generate_series(1, 30000000) g(x) WHERE x % 7 = 3"),
        json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    ]
    output, _ = started.communicate("\n".join(lines) + "\n", timeout=60)
    answers = {answer["id"]: answer for answer in map(json.loads, output.splitlines())}
    assert sorted(answers) == [1, 2, 3], output
    assert "result" in answers[2], answers[2]
    assert answers[2]["result"]["structuredContent"]["rows"] == [[4285714]], answers[2]
    assert started.returncode == 0


def calling(sidecar: SidecarProcess, sql: str) -> subprocess.Popen[str]:
    """`sidecar mcp` initialized, with a call of the query tool on `sql` (id 2) running for a
    second."""
    started = proxy(sidecar)
    assert started.stdin is not None and started.stdout is not None
    lines = [
        json.dumps(INITIALIZE),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        tool_call(2, sql),
    ]
    started.stdin.write("\n".join(lines) + "\n")
    started.stdin.flush()
    assert json.loads(started.stdout.readline())["id"] == 1
    time.sleep(1.0)
    return started


def test_a_stdio_client_hanging_up_stops_its_tool_call(sidecar: SidecarProcess) -> None:
    """A client that closes both pipes (it quit) cancels the call it is no longer waiting for:
    the proxy sees its stdout's reader gone and drops its connection to the sidecar."""
    sql = endless(2)
    started = calling(sidecar, sql)
    assert started.stdin is not None and started.stdout is not None
    started.stdout.close()
    started.stdin.close()
    assert started.wait(timeout=30) == 0
    assert_stopped(sidecar, sql)


def test_a_call_cancelled_over_stdio_stops_its_query(sidecar: SidecarProcess) -> None:
    """MCP's own cancel (notifications/cancelled) reaches the sidecar through the proxy."""
    sql = endless(3)
    started = calling(sidecar, sql)
    assert started.stdin is not None and started.stdout is not None
    cancel = {"requestId": 2, "reason": "the user pressed stop"}
    notice = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel}
    started.stdin.write(json.dumps(notice) + "\n")
    started.stdin.flush()
    try:
        assert_stopped(sidecar, sql)
    finally:
        started.stdin.close()
        assert started.wait(timeout=30) == 0
