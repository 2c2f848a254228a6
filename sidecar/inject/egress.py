"""The egress lock: only the sidecar's user may open connections beyond the pod.

Every container of a pod shares one network namespace, so a NetworkPolicy cannot tell the
agent from its sidecar; the kernel can, by the user that owns each socket. Run as
`python -m sidecar.inject.egress --sidecar-uid UID` in a first init container (root, NET_ADMIN
only), it installs an OUTPUT chain that lets through loopback (the agent reaching its sidecar),
the sidecar's user, replies on connections others opened to the pod (probes, its Service) and
DNS to the pod's own nameservers, and rejects the rest at once (an agent sees "connection
refused", not a hang). Rules go in with iptables-restore: all of them or none.
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CHAIN = "AGENT_SIDECAR_EGRESS"
LOOPBACK = {4: "127.0.0.0/8", 6: "::1/128"}
RESTORE = {4: "iptables-restore", 6: "ip6tables-restore"}
IPV6_ADDRESSES = Path("/proc/net/if_inet6")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def nameservers(resolv_conf: str) -> list[Address]:
    """The resolvers the pod was given (kube-dns for ClusterFirst); DNS goes there only."""
    found: list[Address] = []
    for line in resolv_conf.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            try:
                found.append(ipaddress.ip_address(fields[1].split("%")[0]))
            except ValueError:
                continue
    return found


def rules(sidecar_uid: int, resolvers: Sequence[Address], version: int) -> str:
    """The filter table for one IP version, in iptables-restore's format."""
    allow = [
        f"-d {LOOPBACK[version]}",
        f"-m owner --uid-owner {sidecar_uid}",
        "-m conntrack --ctstate ESTABLISHED,RELATED",
    ]
    width = 32 if version == 4 else 128
    for resolver in resolvers:
        if resolver.version == version:
            allow += [f"-d {resolver}/{width} -p {proto} --dport 53" for proto in ("udp", "tcp")]
    lines = ["*filter", f":{CHAIN} - [0:0]", f"-A OUTPUT -j {CHAIN}"]
    lines += [f"-A {CHAIN} {match} -j RETURN" for match in allow]
    lines += [f"-A {CHAIN} -j REJECT", "COMMIT", ""]
    return "\n".join(lines)


def ipv6_enabled() -> bool:
    try:
        return bool(IPV6_ADDRESSES.read_text().strip())
    except OSError:
        return False


def install(text: str, version: int) -> None:
    """--noflush keeps rules others put in the pod (a CNI's); the chain itself is rewritten."""
    try:
        completed = subprocess.run(
            [RESTORE[version], "--noflush"], input=text, capture_output=True, text=True
        )
    except FileNotFoundError:
        raise RuntimeError(f"{RESTORE[version]} not found: the image needs iptables") from None
    if completed.returncode != 0:
        raise RuntimeError(
            f"{RESTORE[version]} failed ({completed.returncode}): {completed.stderr.strip()}; "
            "the egress lock needs the NET_ADMIN capability in this init container"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sidecar.inject.egress")
    parser.add_argument("--sidecar-uid", type=int, required=True)
    parser.add_argument("--resolv-conf", type=Path, default=Path("/etc/resolv.conf"))
    args = parser.parse_args(argv)
    try:
        resolvers = nameservers(args.resolv_conf.read_text())
    except OSError as error:
        print(f"egress lock: cannot read {args.resolv_conf}: {error}; DNS stays closed")
        resolvers = []
    # IPv6 is locked too whenever the pod has it; a failure there fails the pod (closed).
    versions = [4, 6] if ipv6_enabled() else [4]
    try:
        for version in versions:
            install(rules(args.sidecar_uid, resolvers, version), version)
    except RuntimeError as error:
        print(f"egress lock: {error}", file=sys.stderr)
        return 1
    shown = ", ".join(str(resolver) for resolver in resolvers) or "none"
    families = "+".join(f"IPv{version}" for version in versions)
    print(f"egress lock: only uid {args.sidecar_uid} leaves the pod ({families}); DNS to {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
