"""No surface shows a configured credential (a `${env:..}` token, a key written inline in
sidecar.yaml, the hash key, any agent's API key) in any encoding: not the agent's errors, not
EXPLAIN, /v1/status or /metrics, not the audit log (the agent's SQL included), not the log."""

from __future__ import annotations

import base64
import json

import httpx

from tests.firewall.clients import runner
from tests.firewall.conftest import HASH_KEY, INLINE_KEY, SOURCE_TOKEN, Firewall, identity
from tests.leaks import exposed, forms


def test_no_surface_shows_a_credential_in_any_encoding(firewall: Firewall) -> None:
    who = identity("free", "http")
    key = firewall.keys[who]
    run = runner("http", firewall.endpoints)
    written = [*forms(SOURCE_TOKEN).values(), *forms(INLINE_KEY).values()]
    written.append(base64.b64encode(f"agent:{INLINE_KEY}".encode()).decode())
    sql = "SELECT " + ", ".join(f"'{form}' AS c{i}" for i, form in enumerate(written))
    assert run(who, key, sql).rows
    failure = run(who, key, "SELECT * FROM limited").failure
    assert failure is not None and "HTTP 429" in failure.message, failure
    explained = run(who, key, "EXPLAIN SELECT * FROM slow, limited").rows
    assert explained is not None and "limited" in json.dumps(explained)
    http = firewall.endpoints.http
    ops = {"Authorization": f"Bearer {firewall.keys[identity('ops', 'http')]}"}
    surfaces = {
        "error": f"{failure.message} {failure.hint}",
        "explain": json.dumps(explained),
        "status": httpx.get(f"{http}/v1/status", headers={"Authorization": f"Bearer {key}"}).text,
        "metrics": httpx.get(f"{http}/metrics", headers=ops).text,
        "audit": firewall.audit.read_text(),
        "log": firewall.process.output,
    }
    credentials = [SOURCE_TOKEN, INLINE_KEY, HASH_KEY, *firewall.keys.values()]
    for where, text in surfaces.items():
        assert not exposed(text, *credentials), (where, exposed(text, *credentials))
