"""sidecar.inject's pure parts: egress rules, JSONPatch application, manifests, the probe, and
how the image finds its config (the webhook itself is tested over HTTPS in integration/)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from sidecar.cli import main, resolve_config_path
from sidecar.inject import egress, probe
from sidecar.inject.annotations import Denied
from sidecar.inject.injector import Injector
from sidecar.inject.patch import add, apply, pointer
from sidecar.inject.settings import Settings
from sidecar.inject.workloads import render


def test_egress_rules_for_each_ip_version() -> None:
    resolvers = egress.nameservers(
        "# kubelet\nsearch a.svc.cluster.local\nnameserver 10.96.0.10\nnameserver fd00::a\n"
        "nameserver bogus\noptions ndots:5\n"
    )
    assert resolvers == [ipaddress.ip_address("10.96.0.10"), ipaddress.ip_address("fd00::a")]
    assert egress.rules(10001, resolvers, 4).splitlines() == [
        "*filter",
        ":AGENT_SIDECAR_EGRESS - [0:0]",
        "-A OUTPUT -j AGENT_SIDECAR_EGRESS",
        "-A AGENT_SIDECAR_EGRESS -d 127.0.0.0/8 -j RETURN",
        "-A AGENT_SIDECAR_EGRESS -m owner --uid-owner 10001 -j RETURN",
        "-A AGENT_SIDECAR_EGRESS -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN",
        "-A AGENT_SIDECAR_EGRESS -d 10.96.0.10/32 -p udp --dport 53 -j RETURN",
        "-A AGENT_SIDECAR_EGRESS -d 10.96.0.10/32 -p tcp --dport 53 -j RETURN",
        "-A AGENT_SIDECAR_EGRESS -j REJECT",
        "COMMIT",
    ]
    ipv6 = egress.rules(10001, resolvers, 6)
    assert "-d ::1/128 -j RETURN" in ipv6
    assert "-d fd00::a/128 -p udp --dport 53" in ipv6
    assert "10.96.0.10" not in ipv6


def test_patch_application_follows_rfc_6902() -> None:
    document = {"metadata": {"annotations": {"a": "1"}}, "spec": {"items": [1, 3]}}
    operations = [
        add(pointer("metadata", "annotations", "kubectl.kubernetes.io/x~y"), "v"),
        add(pointer("spec", "items", 1), 2),
        add(pointer("spec", "items", "-"), 4),
        add(pointer("spec", "new"), {"k": []}),
    ]
    assert operations[0]["path"] == "/metadata/annotations/kubectl.kubernetes.io~1x~0y"
    patched = apply(document, operations)
    assert patched == {
        "metadata": {"annotations": {"a": "1", "kubectl.kubernetes.io/x~y": "v"}},
        "spec": {"items": [1, 2, 3, 4], "new": {"k": []}},
    }
    assert document["spec"]["items"] == [1, 3]
    with pytest.raises(ValueError, match="unsupported JSONPatch operation 'remove'"):
        apply(document, [{"op": "remove", "path": "/spec"}])


def test_render_walks_lists_and_leaves_other_objects_alone() -> None:
    pod = {
        "metadata": {"annotations": {"agent-sidecar.io/config": "cfg"}},
        "spec": {"containers": [{"name": "agent", "image": "agent:1"}]},
    }
    manifest = yaml.safe_dump_all(
        [
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [{"kind": "PodTemplate", "template": pod}],
            },
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}},
            {"kind": "Pod", "metadata": {"annotations": {"agent-sidecar.io/inject": "false"}}},
        ]
    )
    documents = list(yaml.safe_load_all(render(manifest, Injector(Settings()))))
    template = documents[0]["items"][0]["template"]
    assert [c["name"] for c in template["spec"]["initContainers"]] == ["agent-sidecar"]
    assert documents[1] == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}}
    assert "spec" not in documents[2]
    with pytest.raises(Denied, match="must be a Kubernetes object"):
        render("- a list\n", Injector(Settings()))
    with pytest.raises(Denied, match=r"Deployment web: no pod template at spec\.template"):
        render("kind: Deployment\nmetadata: {name: web}\nspec: {}\n", Injector(Settings()))


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ready": false, "datasets": [{"name": "orders"}]}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_probe_passes_on_2xx_only(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.main([f"{server}/health"]) == 0
    assert probe.main([f"{server}/v1/ready"]) == 1
    assert 'HTTP 503 {"ready": false' in capsys.readouterr().err
    assert probe.main(["http://127.0.0.1:1/health"]) == 1
    assert "Connection refused" in capsys.readouterr().err


def test_the_image_finds_its_config_through_sidecar_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "etc" / "sidecar.yaml"
    monkeypatch.setenv("SIDECAR_CONFIG", str(config))
    assert resolve_config_path(None) == (config, False)
    assert resolve_config_path("other.yaml") == (Path("other.yaml"), False)
    assert main(["config", "check"]) == 2
    assert f"cannot read {config}" in capsys.readouterr().err
    config.parent.mkdir()
    config.write_text("version: 1\nname: agent\n")
    assert main(["config", "check"]) == 0
