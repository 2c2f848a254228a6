"""Real database servers for the connector tests, started by the suite itself.

Each peer runs on 127.0.0.1 on a free port, in a temporary directory, for one pytest session,
and is stopped by its own PID. A peer whose program is missing skips its tests on a developer
machine but fails them under CI (CI=true), where `make test` must have installed everything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PEERS_VENV = REPO / ".venv-peers"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unavailable(what: str, fix: str) -> None:
    """Skip locally, fail under CI: a missing peer there is a broken install, not a choice."""
    message = f"{what} is not installed ({fix})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"peer exited with {process.returncode}: {tail(log)}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"peer did not listen on {port} within {seconds}s: {tail(log)}")


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(process: subprocess.Popen[bytes], signal_number: int, seconds: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal_number)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(seconds)
