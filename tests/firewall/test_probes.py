"""Every probe of probes.py on every interface: the same answer, each in its protocol's terms."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.firewall.clients import INTERFACES, Answer, Run, runner
from tests.firewall.conftest import Firewall, identity
from tests.firewall.probes import PROBES, WIRE, Probe

HOLD_START = 10.0


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("probe", PROBES, ids=lambda probe: probe.name)
def test_probe(firewall: Firewall, probe: Probe, interface: str) -> None:
    if interface in probe.skip:
        pytest.skip(f"{probe.name} does not apply to {interface}")
    who = identity(probe.role, interface)
    run = runner(interface, firewall.endpoints)
    key = firewall.keys[who]
    for _ in range(probe.before):
        warmup = run(who, key, probe.sql)
        assert warmup.failure is None, warmup.failure
    holder = None
    if probe.hold is not None:
        seen = len(firewall.api.hits("/slow"))
        holder = threading.Thread(target=run, args=(who, key, probe.hold), daemon=True)
        holder.start()
        wait_for_source(firewall, seen)
    answer = run(who, key, probe.sql)
    if holder is not None:
        holder.join()
    check(probe, interface, who, answer, run, key)


def wait_for_source(firewall: Firewall, seen: int) -> None:
    """The holding query has its slot once it reads its (slow) source: wait for that, not for
    a fixed time, which a loaded machine may not honour."""
    deadline = time.monotonic() + HOLD_START
    while len(firewall.api.hits("/slow")) == seen:
        assert time.monotonic() < deadline, "the holding query never reached its source"
        time.sleep(0.01)


def check(
    probe: Probe, interface: str, who: str, answer: Answer, run: Run | None = None, key: str = ""
) -> None:
    if probe.missing is not None:
        assert run is not None
        missing = probe.missing
        expected = run(who, key, missing.sql).failure
        assert expected is not None and answer.failure is not None, answer
        assert answer.failure.wire == expected.wire, (answer.failure, expected)
        assert answer.failure.hint == expected.hint, (answer.failure, expected)
        written = expected.message.replace(missing.name, missing.probed)
        assert answer.failure.message == written, (answer.failure, expected)
        return
    if probe.refusal is None:
        assert answer.failure is None, answer.failure
        text = json.dumps(answer.rows, default=str)
        assert all(part in text for part in probe.shows), text
        assert not any(part in text for part in probe.hides), text
        assert answer.rows is not None
        if probe.rows is not None:
            assert answer.rows == probe.rows
        if probe.count is not None:
            assert len(answer.rows) == probe.count
        return
    failure = answer.failure
    assert failure is not None, f"{probe.name} passed on {interface}: {answer.rows}"
    refusal = probe.refusal
    expected = WIRE[refusal.kind][interface]
    if interface == "http" and probe.midstream:
        assert failure.broken and failure.wire == "200", failure
    else:
        assert failure.wire == expected, failure
        assert not failure.broken, failure
    for word in refusal.words:
        assert word.format(identity=who) in failure.message, failure
    assert refusal.fix in failure.hint, failure
    if refusal.retry and interface == "http":
        assert failure.retry_after is not None and int(failure.retry_after) >= 1, failure
