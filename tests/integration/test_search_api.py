"""Search through a real `sidecar run`: POST /v1/search, the SQL functions over the Postgres
wire, vectors from the sidecar's own embedding model (the tiny GGUF, run by llama.cpp) and the
model's `search` tool."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from collections.abc import Iterator

import httpx
import openai
import psycopg
import pytest

from tests.llm_model import write_tiny_llama
from tests.peers import unavailable
from tests.process import SidecarProcess, free_port, settle

KEY = "k-search-2b8e41"
INTERN_KEY = "k-search-intern-77c1"
GUEST_KEY = "k-search-guest-0a9d"
READER_KEY = "k-search-reader-5e0f"
RUNBOOKS = {
    "pool.md": "# Payment pool exhaustion\n\nCheckout requests hang while they wait for a "
    "connection from the payment pool; the pool is exhausted.\n\n## Fix\n\nRestore "
    "PAYMENT_POOL_SIZE=50, or roll back the deploy.\n",
    "leak.md": "# Database connection leaks\n\nConnections stay idle in transaction and the "
    "database pool runs out over days.\n",
    "disk.md": "# Disk full\n\nThe log volume fills up. Rotate and delete old logs.\n",
    "dns.md": "# DNS failures\n\nPods cannot resolve service names; lookups time out.\n",
}
NOTES = {f"note{i}.md": f"# Note {i}\n\npool notes number {i}\n" for i in range(12)}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SidecarProcess]:
    if importlib.util.find_spec("llama_cpp") is None:
        unavailable("llama-cpp-python (the llm extra)", "make install-llm")
    root = tmp_path_factory.mktemp("search-api")
    visible = {name: text for name, text in RUNBOOKS.items() if name != "leak.md"}
    for folder, docs in (("guides", RUNBOOKS), ("notes", NOTES), ("visible", visible)):
        (root / folder).mkdir()
        for name, text in docs.items():
            (root / folder / name).write_text(text)
    (root / "deploys.csv").write_text("path,version\npool.md,v2.14.0\n")
    write_tiny_llama(root / "tiny.gguf")
    port = free_port()
    (root / "sidecar.yaml").write_text(
        textwrap.dedent(
            f"""
            version: 1
            name: search-test
            runtime:
              http: {{port: {port}}}
              auth:
                api_keys:
                  - {{key: "${{env:AGENT_KEY}}", identity: sre}}
                  - {{key: "{INTERN_KEY}", identity: intern}}
                  - {{key: "{GUEST_KEY}", identity: guest}}
                  - {{key: "{READER_KEY}", identity: reader}}
            policies:
              - {{identities: [sre], datasets: ["*"]}}
              - identities: [intern]
                datasets: [guides, titled]
                columns: {{guides.content: mask, titled.content: mask}}
                rows: {{guides: "path <> 'leak.md'"}}
              - {{identities: [guest], datasets: [deploys]}}
              - {{identities: [reader], datasets: [guides], columns: {{guides.content: deny}}}}
            datasets:
              - from: file:guides
                name: guides
                description: Runbooks
                search:
                  text: [title, content]
                  vectors: {{column: content, model: tiny}}
                  chunking: {{by: heading, max_tokens: 64}}
                  key: path
              - from: file:notes
                name: notes
                search: {{text: [content], key: path}}
              - from: file:guides
                name: titled
                description: the runbooks compared by title, chunked by content
                search:
                  text: [title]
                  vectors: {{column: title, model: tiny}}
                  chunking: {{by: heading, column: content, max_tokens: 16}}
                  key: path
              - from: file:guides
                name: titles
                description: the runbooks' titles alone, one document each
                search: {{text: [title], key: path}}
              - from: file:visible
                name: visible
                description: the runbooks the intern's row filter lets through
                search:
                  text: [title, content]
                  chunking: {{by: heading, max_tokens: 64}}
                  key: path
              - from: file:deploys.csv
                name: deploys
            models:
              - from: file:tiny.gguf
                name: tiny
                params: {{n_ctx: 2048, n_threads: 1, embedding: true, max_tool_steps: 1}}
            """
        )
    )
    process = SidecarProcess(root / "sidecar.yaml", env={"AGENT_KEY": KEY})
    process.start(port)
    wait_for_indexes(process.url)
    yield process
    process.stop()


def wait_for_indexes(url: str) -> None:
    """/v1/ready covers datasets and indexes; this also waits out a failed vectors build."""

    def built() -> bool:
        status = httpx.get(f"{url}/v1/status", headers={"X-API-Key": KEY}).json()
        states = [d["search"]["state"] for d in status["datasets"] if "search" in d]
        return all(state in ("ready", "error") for state in states)

    settle(built, "search indexes")


@pytest.fixture
def http(sidecar: SidecarProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sidecar.url, headers={"X-API-Key": KEY}, timeout=60) as client:
        yield client


def search(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post("/v1/search", json=body)


def test_text_search_ranks_with_snippets(http: httpx.Client) -> None:
    response = search(http, datasets=["guides"], text="pool exhausted", limit=2)
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert [hit["key"] for hit in hits] == ["pool.md", "leak.md"]
    assert hits[0]["dataset"] == "guides" and hits[0]["score"] > hits[1]["score"]
    assert "<em>exhausted</em>" in hits[0]["snippet"]
    assert hits[0]["row"]["title"] == "Payment pool exhaustion"
    assert set(hits[0]) == {"dataset", "key", "score", "snippet", "chunk", "row"}


def test_vector_search_finds_a_passage_by_its_own_text(http: httpx.Client) -> None:
    """The tiny model's vectors are noise, but the same text always gets the same vector."""
    passage = RUNBOOKS["dns.md"].strip()
    response = search(http, datasets=["guides"], text=passage, limit=4, mode="vector")
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits[0]["key"] == "dns.md" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert len(hits) == 4


def test_hybrid_fuses_both_rankings(http: httpx.Client) -> None:
    hits = search(http, datasets=["guides"], text="pool", limit=4, mode="hybrid").json()["hits"]
    assert len(hits) == 4 and hits[0]["key"] in ("pool.md", "leak.md")
    assert all(0 < hit["score"] <= 2 / 61 for hit in hits)


def test_where_filters_before_the_limit(http: httpx.Client) -> None:
    body = {"datasets": ["notes"], "text": "pool", "limit": 3}
    hits = search(http, **body, where="path IN ('note10.md', 'note11.md')").json()["hits"]
    assert sorted(hit["key"] for hit in hits) == ["note10.md", "note11.md"]
    picked = search(http, **body, columns=["title"]).json()["hits"]
    assert [set(hit["row"]) for hit in picked] == [{"title"}] * 3


def test_several_datasets_are_merged(http: httpx.Client) -> None:
    hits = search(http, datasets=["guides", "notes"], text="pool", limit=4).json()["hits"]
    assert [hit["dataset"] for hit in hits] == ["guides", "notes", "guides", "notes"]


def test_errors_are_400s_that_say_where(http: httpx.Client) -> None:
    for body, status, words, position in (
        ({"datasets": ["guides"], "text": 'pool "exh'}, 400, "unterminated phrase", 6),
        ({"datasets": ["guides"], "text": "   "}, 400, "search text is empty", 1),
        ({"datasets": ["guides"], "text": "x", "where": "path = "}, 400, "where", None),
        ({"datasets": ["guides"], "text": "x", "where": "nope = 1"}, 400, "nope", 1),
        # was "Failed to parse '1=1) OR (1=1' into <class 'sqlglot.expressions...Condition'>"
        ({"datasets": ["guides"], "text": "x", "where": "1=1) OR (1=1"}, 400, "near ')'", 4),
        ({"datasets": ["guides"], "text": "x", "where": "1=1; SELECT 1"}, 400, "near 'SELECT'", 6),
        ({"datasets": ["guides"], "text": "x", "mode": "fuzzy"}, 400, "mode", None),
        ({"datasets": [], "text": "x"}, 400, "datasets", None),
        ({"datasets": ["guide"], "text": "x"}, 404, "did you mean guides", None),
        ({"datasets": ["deploys"], "text": "x"}, 400, "not searchable", None),
        ({"datasets": ["notes"], "text": "x", "mode": "vector"}, 400, "no vector index", None),
    ):
        response = search(http, **body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert words in error["message"] + error.get("hint", ""), (body, error)
        assert "class" not in error["message"], (body, error)
        if position is not None:
            assert error["position"] == position, (body, error)
    response = http.post("/v1/search", content=b"{not json")
    assert response.status_code == 400 and "invalid JSON" in response.json()["error"]["message"]


def test_hostile_requests_fail_alone_and_at_once(http: httpx.Client) -> None:
    """A `where` nested past sqlglot's recursion (was a 500) and a dataset repeated ten
    thousand times (was ten thousand searches) are 400s; a repeat is searched once."""
    deep = "(" * 3000 + "1 = 1" + ")" * 3000
    response = search(http, datasets=["guides"], text="pool", where=deep)
    assert response.status_code == 400 and "nests too deeply" in response.text
    response = search(http, datasets=["guides"] * 10_000, text="pool")
    assert response.status_code == 400 and "datasets" in response.text
    once = search(http, datasets=["guides"], text="pool", limit=10).json()["hits"]
    twice = search(http, datasets=["guides", "guides"], text="pool", limit=10).json()["hits"]
    assert twice == once


def test_sql_functions_over_the_postgres_wire(sidecar: SidecarProcess) -> None:
    dsn = f"host=127.0.0.1 port={sidecar.pg_port} user=sre password={KEY} dbname=search-test"
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT g.path, d.version, g.score > 0 "
            "FROM text_search('guides', %s, 3) g JOIN deploys d ON d.path = g.path",
            ["payment pool"],
        ).fetchall()
        assert rows == [("pool.md", "v2.14.0", True)]
        with pytest.raises(psycopg.errors.SyntaxError) as caught:
            conn.execute("SELECT * FROM text_search('guides', '(pool', 3)")
        assert "unclosed (" in str(caught.value)


def test_status_shows_the_index(http: httpx.Client) -> None:
    datasets = {d["name"]: d for d in http.get("/v1/status").json()["datasets"]}
    index = datasets["guides"]["search"]
    assert index["state"] == "ready" and index["rows"] == 4 and index["vectors"] == "tiny"
    assert index["chunks"] >= 4
    assert "search" not in datasets["deploys"]


def test_status_names_no_column_the_caller_is_denied(sidecar: SidecarProcess) -> None:
    """/v1/status listed every indexed column to every caller, `content` included for one that
    is denied it (for whom it does not exist), and its chunk count, which tells how long the
    denied texts are; MCP's status resource is the same body. A vector search refused over
    that column named it too."""
    headers = {"X-API-Key": READER_KEY}
    status = httpx.get(f"{sidecar.url}/v1/status", headers=headers).json()
    [guides] = status["datasets"]
    assert guides["search"]["text"] == ["title"] and guides["search"]["chunks"] is None
    assert guides["search"]["rows"] == 4
    assert "content" not in json.dumps(status)
    described = httpx.get(f"{sidecar.url}/v1/datasets", headers=headers).json()
    assert "content" not in json.dumps(described)
    body = {"datasets": ["guides"], "text": "pool", "mode": "vector"}
    refused = httpx.post(f"{sidecar.url}/v1/search", json=body, headers=headers)
    assert refused.status_code == 403 and "content" not in refused.text


def test_the_model_searches_with_its_tool(sidecar: SidecarProcess) -> None:
    client = openai.OpenAI(base_url=f"{sidecar.url}/v1", api_key=KEY, max_retries=0, timeout=120)
    response = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Which runbook covers pool exhaustion?"}],
        tool_choice={"type": "function", "function": {"name": "search"}},
        max_tokens=200,
        seed=3,
    )
    [executed] = response.choices[0].message.model_extra["executed_tool_calls"]
    assert executed["function"]["name"] == "search"
    assert '"dataset": "' in executed["function"]["arguments"]
    output = json.loads(executed["output"])
    if executed["ok"]:
        assert output["columns"][-2:] == ["score", "snippet"]
        assert "content" not in output["columns"]
    else:  # the tiny model's noise as search text: the error goes back to the model
        assert output["error"]["code"] in ("syntax_error", "invalid_request")


def test_policies_hold_for_search(sidecar: SidecarProcess) -> None:
    def as_(key: str, **body: object) -> httpx.Response:
        return httpx.post(f"{sidecar.url}/v1/search", json=body, headers={"X-API-Key": key})

    hidden = as_(GUEST_KEY, datasets=["guides"], text="pool")
    assert hidden.status_code == 404, hidden.text
    assert "guides" not in hidden.json()["error"].get("hint", "")
    # content is masked for the intern: not matched, not shown, not compared by vector
    assert as_(KEY, datasets=["guides"], text="checkout").json()["hits"]
    assert as_(INTERN_KEY, datasets=["guides"], text="checkout").json()["hits"] == []
    hits = as_(INTERN_KEY, datasets=["guides"], text="pool database", limit=5).json()["hits"]
    assert [hit["key"] for hit in hits] == ["pool.md"]  # leak.md is outside its row filter
    assert hits[0]["row"]["content"] == "****" and hits[0]["chunk"] == "****"
    refused = as_(INTERN_KEY, datasets=["guides"], text="pool", mode="vector")
    assert refused.status_code == 403 and "masks" in refused.json()["error"]["message"]
    fused = as_(INTERN_KEY, datasets=["guides"], text="pool", mode="hybrid").json()["hits"]
    assert [hit["key"] for hit in fused] == ["pool.md"]


def test_scores_count_only_the_rows_the_caller_sees(sidecar: SidecarProcess) -> None:
    """BM25 weighed each word by how many chunks hold it and each chunk by its length against
    the average, counted over the whole index, so the intern's scores moved with what leak.md
    (which its row filter hides) holds. They must be those of an index of its rows alone:
    `visible` holds the same runbooks without leak.md."""

    def scores(user: str, key: str, dataset: str) -> list[tuple[str, float]]:
        dsn = f"host=127.0.0.1 port={sidecar.pg_port} user={user} password={key} dbname=x"
        search = f"FROM text_search('{dataset}', 'title:pool title:disk', 9)"
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(f"SELECT path, score {search}").fetchall()
            plan = str(conn.execute(f"EXPLAIN SELECT * {search}").fetchall())
        # nor does EXPLAIN count the index's rows and chunks for a caller that sees fewer
        assert ("3 rows in 3 chunks" in plan) if user == "sre" else ("rows in" not in plan), plan
        return [(path, pytest.approx(score, rel=1e-6)) for path, score in rows]

    expected = scores("sre", KEY, "visible")
    assert sorted(path for path, _ in expected) == ["disk.md", "pool.md"]
    assert scores("intern", INTERN_KEY, "guides") == expected
    body = {"datasets": ["guides"], "text": "title:pool title:disk"}
    hits = httpx.post(
        f"{sidecar.url}/v1/search", json=body, headers={"X-API-Key": INTERN_KEY}
    ).json()["hits"]
    assert [(hit["key"], hit["score"]) for hit in hits] == expected


def test_search_text_errors_tell_nothing_of_hidden_datasets_or_denied_columns(
    sidecar: SidecarProcess,
) -> None:
    """The search text was checked against every indexed column of the dataset named, before
    the dataset was resolved as the caller: `content:` with nothing after it was a syntax error
    naming `content` for a dataset the caller cannot see (an absent one answered 404) and for
    a column its policy denies, which told both exist."""

    def answer(key: str, dataset: str, text: str) -> tuple[int, str]:
        body = {"datasets": [dataset], "text": text}
        response = httpx.post(f"{sidecar.url}/v1/search", json=body, headers={"X-API-Key": key})
        return response.status_code, response.text

    absent = answer(GUEST_KEY, "nowhere", "content:")
    assert absent[0] == 404, absent
    assert answer(GUEST_KEY, "guides", "content:") == (404, absent[1].replace("nowhere", "guides"))
    denied = answer(READER_KEY, "guides", "content:")
    assert denied[0] == answer(READER_KEY, "guides", "nosuch:")[0] == 200, denied
    assert "content" not in denied[1], denied


def test_a_vector_hit_shows_no_passage_of_a_masked_column(sidecar: SidecarProcess) -> None:
    """A vector hit's snippet is the opening of its chunk; compared by title but chunked by
    content, it showed the intern the content its policy masks."""
    for mode in ("vector", "hybrid"):
        body = {"datasets": ["titled"], "text": "Disk full", "mode": mode, "limit": 4}
        response = httpx.post(
            f"{sidecar.url}/v1/search", json=body, headers={"X-API-Key": INTERN_KEY}
        )
        assert response.status_code == 200, response.text
        hits = response.json()["hits"]
        assert len(hits) == 4 and "log volume" not in response.text, hits
        assert {hit["chunk"] for hit in hits} == {"****"}
    shown = httpx.post(
        f"{sidecar.url}/v1/search",
        json={"datasets": ["titled"], "text": "Disk full", "mode": "vector"},
        headers={"X-API-Key": KEY},
    )
    assert "log volume" in shown.text  # what the sre may read


def test_scores_do_not_count_the_chunks_of_a_masked_column(sidecar: SidecarProcess) -> None:
    """`titled` is chunked by content, which the intern's policy masks: each runbook was one
    document per chunk of its content, so the title scores told how long the masked content
    is (pool.md, with two sections, weighed twice). They must be those of one document per
    runbook, as in `titles`."""

    def scores(user: str, key: str, dataset: str) -> list[tuple[str, float]]:
        dsn = f"host=127.0.0.1 port={sidecar.pg_port} user={user} password={key} dbname=x"
        search = f"FROM text_search('{dataset}', 'pool disk', 9)"
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(f"SELECT path, score {search} ORDER BY path").fetchall()
        return [(path, pytest.approx(score, rel=1e-6)) for path, score in rows]

    expected = scores("sre", KEY, "titles")
    assert [path for path, _ in expected] == ["disk.md", "pool.md"]
    assert scores("intern", INTERN_KEY, "titled") == expected
    # nor do /v1/status and EXPLAIN count them
    status = httpx.get(f"{sidecar.url}/v1/status", headers={"X-API-Key": INTERN_KEY}).json()
    [titled] = [d["search"] for d in status["datasets"] if d["name"] == "titled"]
    assert titled["rows"] == 4 and titled["chunks"] is None, titled
    dsn = f"host=127.0.0.1 port={sidecar.pg_port} user=intern password={INTERN_KEY} dbname=x"
    with psycopg.connect(dsn) as conn:
        plan = conn.execute("EXPLAIN SELECT * FROM text_search('titled', 'pool', 3)").fetchall()
    assert "chunks" not in str(plan), plan


def test_explain_names_no_column_the_caller_is_denied(sidecar: SidecarProcess) -> None:
    """EXPLAIN of a hybrid search named the vectors' column, `content`, to a caller denied it
    (the search itself ranks by text alone then, and says nothing of it)."""
    dsn = f"host=127.0.0.1 port={sidecar.pg_port} user=reader password={READER_KEY} dbname=x"
    with psycopg.connect(dsn) as conn:
        for function in ("search", "text_search"):
            plan = conn.execute(f"EXPLAIN SELECT path FROM {function}('guides', 'pool', 3)")
            text = str(plan.fetchall())
            assert "BM25 over title" in text and "content" not in text, text
