"""The egress lock for real: the injected init container's command, run with NET_ADMIN as its
only capability inside a network namespace the test creates, with Debian's iptables; then
processes running as the agent's and the sidecar's users try to connect.

Needs root, `ip netns` (iproute2) and iptables (`make test` installs both as root; missing
tools fail the test under CI=true). Where a network namespace cannot be created (no root, a
restricted container) the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.inject.annotations import read_injection
from sidecar.inject.containers import egress_lock_container
from sidecar.inject.settings import Settings
from tests.peers import unavailable

SETTINGS = Settings()
AGENT_UID = 20002
ADDRESS, RESOLVER, ADDRESS6 = "10.203.0.1", "10.203.0.53", "fd00:203::1"
PORT = 8080
LISTENER = textwrap.dedent(
    """
    import socket, sys, selectors
    selector = selectors.DefaultSelector()
    for family, host, port in [
        (socket.AF_INET, "127.0.0.1", 8080), (socket.AF_INET, "10.203.0.1", 8080),
        (socket.AF_INET, "10.203.0.53", 53), (socket.AF_INET, "10.203.0.53", 5353),
        (socket.AF_INET6, "fd00:203::1", 8080),
    ]:
        server = socket.socket(family, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, port))
        server.listen()
        selector.register(server, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in selector.select():
            key.fileobj.accept()[0].close()
    """
)
CONNECT = textwrap.dedent(
    """
    import socket, sys
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    except OSError as error:
        print(type(error).__name__)
        sys.exit(1)
    print("connected")
    """
)


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=check)


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("creating a network namespace needs root")
    for tool in ("ip", "iptables-restore", "ip6tables-restore", "setpriv"):
        if shutil.which(tool) is None:
            unavailable(
                tool, "apt-get install iproute2 iptables util-linux, or `make test` as root"
            )
    name = f"agent-sidecar-test-{os.getpid()}"
    created = run("ip", "netns", "add", name, check=False)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {created.stderr.strip()}")
    try:
        inside = ("ip", "netns", "exec", name)
        for step in (
            "ip link set lo up",
            "ip link add agent0 type veth peer name agent1",
            f"ip addr add {ADDRESS}/24 dev agent0",
            f"ip addr add {RESOLVER}/32 dev agent0",
            f"ip -6 addr add {ADDRESS6}/64 dev agent0 nodad",
            "ip link set agent0 up",
            "ip link set agent1 up",
        ):
            run(*inside, *step.split())
        yield name
    finally:
        run("ip", "netns", "del", name, check=False)


def connect(namespace: str, uid: int, host: str, port: int = PORT) -> bool:
    """Whether a process of `uid` inside the namespace can open a TCP connection."""
    result = run(
        *("ip", "netns", "exec", namespace),
        *("setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"),
        *(sys.executable, "-I", "-S", "-c", CONNECT, host, str(port)),
        check=False,
    )
    return result.returncode == 0


def test_only_the_sidecar_user_leaves_the_pod(namespace: str, tmp_path: Path) -> None:
    listener = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-I", "-S", "-c", LISTENER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening"
        # Before the lock everyone gets out: the test can tell a lock from a broken network.
        assert connect(namespace, AGENT_UID, ADDRESS)
        assert connect(namespace, AGENT_UID, ADDRESS6)

        injection = read_injection(
            {"agent-sidecar.io/config": "cfg", "agent-sidecar.io/egress-lock": "true"}, SETTINGS
        )
        container = egress_lock_container(SETTINGS, injection)
        assert container["securityContext"]["capabilities"]["add"] == ["NET_ADMIN"]
        resolv_conf = tmp_path / "resolv.conf"
        resolv_conf.write_text(f"search agents.svc.cluster.local\nnameserver {RESOLVER}\n")
        python, *arguments = container["command"]
        assert python == "python"
        # The container's command as written, as root with NET_ADMIN and no other capability.
        locked = run(
            *("ip", "netns", "exec", namespace),
            *("setpriv", "--bounding-set=-all,+net_admin", "--inh-caps=-all"),
            *(sys.executable, *arguments, "--resolv-conf", str(resolv_conf)),
            check=False,
        )
        assert locked.returncode == 0, locked.stdout + locked.stderr
        assert f"DNS to {RESOLVER}" in locked.stdout

        sidecar = SETTINGS.uid
        assert not connect(namespace, AGENT_UID, ADDRESS)
        assert not connect(namespace, AGENT_UID, ADDRESS6)
        assert connect(namespace, sidecar, ADDRESS)
        assert connect(namespace, sidecar, ADDRESS6)
        # The agent still reaches its sidecar on loopback, and DNS at the pod's resolver only.
        assert connect(namespace, AGENT_UID, "127.0.0.1")
        assert connect(namespace, AGENT_UID, RESOLVER, 53)
        assert not connect(namespace, AGENT_UID, RESOLVER, 5353)
        # Root in the pod without NET_ADMIN cannot lift it.
        flush = run(
            *("ip", "netns", "exec", namespace),
            *("setpriv", "--bounding-set=-all", "--inh-caps=-all"),
            *("iptables", "-F", "OUTPUT"),
            check=False,
        )
        assert flush.returncode != 0
        assert not connect(namespace, AGENT_UID, ADDRESS)
    finally:
        listener.kill()
        listener.wait(timeout=10)


def test_the_lock_fails_the_pod_without_net_admin(namespace: str, tmp_path: Path) -> None:
    """Fail closed: an init container that cannot install the rules exits non-zero, so the
    pod never starts unlocked."""
    resolv_conf = tmp_path / "resolv.conf"
    resolv_conf.write_text(f"nameserver {RESOLVER}\n")
    started = time.monotonic()
    result = run(
        *("ip", "netns", "exec", namespace),
        *("setpriv", "--bounding-set=-all", "--inh-caps=-all"),
        *(sys.executable, "-m", "sidecar.inject.egress", "--sidecar-uid", "10001"),
        *("--resolv-conf", str(resolv_conf)),
        check=False,
    )
    assert result.returncode == 1
    assert "needs the NET_ADMIN capability" in result.stderr
    assert time.monotonic() - started < 30
