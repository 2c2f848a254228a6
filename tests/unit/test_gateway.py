"""The query path's parts: the rate bucket, concurrency slots, which policy governs, the audit
log's lines and rotation, and the watchdog. End to end they are probed on every interface in
tests/firewall."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from policies.access import matching_policy
from policies.identity import Identity
from sidecar.config import Audit, parse_config
from sidecar.gateway.audit import AuditLog
from sidecar.gateway.limits import Limiter, LimitExceeded, Slots, TokenBucket
from sidecar.gateway.watchdog import Watchdog
from tests.clock import Clock


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    clock.now += 10  # a quiet spell saves up at most the burst
    assert [bucket.take() for _ in range(4)][-1] > 0


def test_slots_wait_briefly_then_refuse() -> None:
    slots = Slots(1)
    assert slots.acquire(0)
    started = time.monotonic()
    assert not slots.acquire(0.1)
    assert time.monotonic() - started >= 0.1
    threading.Timer(0.05, slots.release).start()
    assert slots.acquire(2)


def test_the_first_matching_policy_governs() -> None:
    config = parse_config(
        {
            "policies": [
                {"identities": ["bi"], "limits": {"max_rows": 100}},
                {"identities": ["agent-*"], "limits": {"rate": "600/m", "query_timeout": "2s"}},
                {"identities": ["*"], "limits": {"max_rows": 1}},
            ]
        }
    )
    assert matching_policy(config.policies, Identity("agent-7")) is not None
    limiter = Limiter(config)
    governing = limiter.governing(Identity("agent-7"))
    assert governing.where == "policies[1].limits" and governing.limits.rate == 10.0
    assert limiter.timeout(governing) == (2.0, "policies[1].limits.query_timeout")
    assert limiter.governing(Identity("Agent-7")).limits.max_rows == 1  # names are exact
    assert limiter.timeout(limiter.governing(Identity("bi"))) == (60.0, "runtime.query_timeout")
    assert matching_policy(None, Identity("bi")) is None


def test_rate_refusal_names_the_limit_and_when_to_retry() -> None:
    config = parse_config({"policies": [{"identities": ["*"], "limits": {"rate": "1/m"}}]})
    limiter = Limiter(config)
    first, second = Identity("a"), Identity("b")
    limiter.admit(first, limiter.governing(first))
    with pytest.raises(LimitExceeded) as refused:
        limiter.admit(first, limiter.governing(first))
    error = refused.value.to_dict()
    assert error["code"] == "limit_exceeded" and error["limit"] == "rate"
    assert 59 < error["retry_after"] <= 60 and "policies[0].limits.rate" in error["hint"]
    limiter.admit(second, limiter.governing(second))  # each identity has its own bucket


def test_a_statement_waits_briefly_for_a_concurrency_slot() -> None:
    config = parse_config({"policies": [{"identities": ["*"], "limits": {"max_concurrent": 1}}]})
    limiter = Limiter(config)
    agent = Identity("a")
    governing = limiter.governing(agent)
    release = limiter.occupy(agent, governing, time.monotonic() + 60)
    threading.Timer(0.2, release).start()
    limiter.occupy(agent, governing, time.monotonic() + 60)()  # the slot came free in time
    held = limiter.occupy(agent, governing, time.monotonic() + 60)
    with pytest.raises(LimitExceeded, match="max_concurrent"):
        limiter.occupy(agent, governing, time.monotonic() + 0.1)
    held()


def test_audit_lines_are_json_and_rotate_by_size(tmp_path: Path) -> None:
    log = AuditLog(Audit(path="logs/audit.jsonl", max_size=400, backups=2), tmp_path)
    for index in range(20):
        log.write({"identity": "a", "sql": f"SELECT {index}", "decision": "ok"})
    log.close()
    files = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    last = [json.loads(line) for line in (tmp_path / "logs/audit.jsonl").read_text().splitlines()]
    assert last[-1]["sql"] == "SELECT 19" and last[-1]["time"].endswith("Z")


def test_audit_lines_written_in_one_batch_are_all_kept_across_rotations(tmp_path: Path) -> None:
    """The writer takes every line queued since it last woke and rotates between them: no
    line is lost or split, and no file passes max_size."""
    log = AuditLog(Audit(path="audit.jsonl", max_size=1000, backups=50), tmp_path)
    for index in range(300):
        log.write({"identity": "a", "sql": f"SELECT {index}", "decision": "ok"})
    log.write({"sql": "SELECT 'x'", "bad": {1, 2}})  # not JSON: written with default=str
    log.close()
    files = sorted(tmp_path.iterdir(), key=lambda path: -int(path.name[len("audit.jsonl.") :] or 0))
    assert all(path.stat().st_size <= 1000 for path in files)
    sqls = [json.loads(line)["sql"] for path in files for line in path.read_text().splitlines()]
    assert sqls == [f"SELECT {index}" for index in range(300)] + ["SELECT 'x'"]


def test_a_record_that_cannot_be_json_costs_only_its_line(tmp_path: Path) -> None:
    log = AuditLog(Audit(path="audit.jsonl"), tmp_path)
    loop: dict[str, object] = {}
    loop["self"] = loop
    log.write({"sql": "SELECT 1"})
    log.write({"sql": "SELECT 2", "loop": loop})
    log.write({"sql": "SELECT 3"})
    log.close()
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["sql"] for line in lines] == ["SELECT 1", "SELECT 3"]


def test_audit_to_stdout_and_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = AuditLog(Audit(path="-"), tmp_path)
    log.write({"decision": "auth_failed"})
    log.close()
    assert json.loads(capsys.readouterr().out)["decision"] == "auth_failed"
    off = AuditLog(None, tmp_path)
    off.write({"decision": "ok"})
    assert not off.enabled and list(tmp_path.iterdir()) == []


def test_watchdog_fires_armed_alarms_only() -> None:
    watchdog = Watchdog()
    fired: list[str] = []
    done = threading.Event()
    watchdog.arm(time.monotonic() + 0.2, lambda: fired.append("late"))
    watchdog.arm(time.monotonic() + 0.05, lambda: fired.append("early")).disarm()
    watchdog.arm(time.monotonic() + 0.3, done.set)
    assert done.wait(2)
    assert fired == ["late"]


def test_watchdog_sweeps_disarmed_alarms_before_they_are_due() -> None:
    """Statements disarm their alarms long before the deadline: the heap must not keep them."""
    watchdog = Watchdog()
    far = time.monotonic() + 600
    for _ in range(20_000):
        watchdog.arm(far, lambda: None).disarm()
    kept = watchdog.arm(far, lambda: None)
    assert len(watchdog._alarms) < 4096
    assert any(entry[2] is kept for entry in watchdog._alarms)
