"""`sidecar inject serve` answering real AdmissionReview requests over HTTPS, and `render`.

The test starts the webhook with a certificate signed by a CA it generates (as the chart
does), sends the AdmissionReviews the API server would, applies the returned JSONPatch with
the `jsonpatch` library and validates the mutated Pod against the Kubernetes 1.29 and 1.34
schemas in strict mode.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import kubernetes_validate
import pytest
import yaml

from sidecar.inject import admission
from tests.process import free_port

VERSIONS = ("1.29.0", "1.34.0")
# `sidecar inject` is the documented command; `python -m sidecar.inject` (what the chart runs)
# is the same code without the client imports of the CLI, and quicker to start.
SIDECAR_INJECT = [sys.executable, "-m", "sidecar", "inject"]
INJECT = [sys.executable, "-m", "sidecar.inject"]
OPT_IN = {
    "agent-sidecar.io/inject": "true",
    "agent-sidecar.io/config": "sre-agent-sidecar",
    "agent-sidecar.io/secrets": "sre-agent-secrets",
    "agent-sidecar.io/api-key": "AGENT_KEY",
}


def write_certificates(directory: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 signed by it; returns the CA's path."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def build(subject: str, issuer: str, public: Any, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("test-ca", "test-ca", ca_key.public_key(), ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("agent-sidecar", "test-ca", key.public_key(), ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (directory / "ca.crt").write_bytes(ca.public_bytes(pem))
    (directory / "tls.crt").write_bytes(cert.public_bytes(pem))
    (directory / "tls.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "ca.crt"


@dataclass
class Webhook:
    url: str
    client: httpx.Client
    process: subprocess.Popen[bytes]
    log: Path

    def review(self, pod: dict[str, Any], path: str = "/inject", **request: Any) -> dict[str, Any]:
        uid = str(uuid.uuid4())
        body = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "agents",
                "operation": "CREATE",
                "object": pod,
                **request,
            },
        }
        response = self.client.post(path, json=body)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == uid
        return answer["response"]

    def inject(self, pod: dict[str, Any], path: str = "/inject") -> dict[str, Any]:
        """The pod as the API server would store it after this webhook."""
        response = self.review(pod, path)
        assert response["allowed"], response
        return jsonpatch.apply_patch(pod, operations(response))


def operations(response: dict[str, Any]) -> list[dict[str, Any]]:
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))


def start_webhook(
    directory: Path, settings: dict[str, Any] | None = None, program: list[str] = INJECT
) -> Webhook:
    ca = write_certificates(directory)
    port = free_port()
    command = [*program, "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--tls-cert", str(directory / "tls.crt")]
    command += ["--tls-key", str(directory / "tls.key")]
    if settings is not None:
        (directory / "settings.yaml").write_text(yaml.safe_dump(settings))
        command += ["--settings", str(directory / "settings.yaml")]
    log = directory / "webhook.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=ca), timeout=10)
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if client.get("/health").status_code == 200:
                return Webhook(url, client, process, log)
        except httpx.TransportError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)


def stop(webhook: Webhook) -> None:
    webhook.client.close()
    webhook.process.terminate()
    webhook.process.wait(timeout=10)


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    running = start_webhook(tmp_path_factory.mktemp("webhook"), program=SIDECAR_INJECT)
    yield running
    stop(running)


def agent_pod(annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "sre-agent-",
            "namespace": "agents",
            "labels": {"app": "sre-agent"},
            "annotations": dict(OPT_IN if annotations is None else annotations),
        },
        "spec": {
            "containers": [
                {
                    "name": "agent",
                    "image": "example.com/sre-agent:1.0",
                    "env": [{"name": "PGHOST", "value": "db.example.com"}],
                    "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                },
                {"name": "tools", "image": "example.com/tools:1.0"},
            ],
            "initContainers": [{"name": "migrate", "image": "example.com/migrate:1.0"}],
            "volumes": [{"name": "work", "emptyDir": {}}],
            **spec,
        },
    }
    return pod


def validate(pod: dict[str, Any]) -> None:
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(pod, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"invalid for Kubernetes {version}: {error.message} at {error.path}")


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v.get("value", v.get("valueFrom")) for v in container.get("env", [])}


# ---- what is injected -----------------------------------------------------------------------


def test_injects_a_native_sidecar_the_schemas_accept(webhook: Webhook) -> None:
    pod = agent_pod()
    mutated = webhook.inject(pod)
    validate(mutated)
    spec = mutated["spec"]
    init = spec["initContainers"]
    assert [c["name"] for c in init] == ["agent-sidecar", "migrate"]
    sidecar = init[0]
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"][:4] == ["sidecar", "run", "-c", "/etc/sidecar/sidecar.yaml"]
    assert sidecar["startupProbe"]["exec"]["command"][-1] == "http://127.0.0.1:8090/v1/ready"
    assert sidecar["livenessProbe"]["exec"]["command"][-1] == "http://127.0.0.1:8090/health"
    assert sidecar["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert sidecar["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes = by_name(spec["volumes"])
    assert volumes["agent-sidecar-config"] == {
        "name": "agent-sidecar-config",
        "configMap": {"name": "sre-agent-sidecar"},
    }
    mounts = by_name(sidecar["volumeMounts"])
    assert mounts["agent-sidecar-config"]["readOnly"] is True
    assert mounts["agent-sidecar-config"]["mountPath"] == "/etc/sidecar"
    assert sidecar["envFrom"] == [{"secretRef": {"name": "sre-agent-secrets"}}]
    # The pod's own containers and volumes are exactly as they were, apart from env.
    original = agent_pod()["spec"]
    for name, container in by_name(original["containers"]).items():
        changed = by_name(spec["containers"])[name]
        assert {k: v for k, v in changed.items() if k != "env"} == {
            k: v for k, v in container.items() if k != "env"
        }
    assert by_name(spec["initContainers"])["migrate"] == original["initContainers"][0]
    assert volumes["work"] == original["volumes"][0]
    assert mutated["metadata"] == pod["metadata"]


def test_agent_containers_get_the_connection_environment(webhook: Webhook) -> None:
    mutated = webhook.inject(agent_pod())
    containers = by_name(mutated["spec"]["containers"])
    key = {"secretKeyRef": {"name": "sre-agent-secrets", "key": "AGENT_KEY"}}
    assert env_of(containers["tools"]) == {
        "DATABASE_URL": "postgresql://agent@127.0.0.1:15432/agent",
        "PGHOST": "127.0.0.1",
        "PGPORT": "15432",
        "PGUSER": "agent",
        "FLIGHT_SQL_URI": "grpc://127.0.0.1:50051",
        "OPENAI_BASE_URL": "http://127.0.0.1:8090/v1",
        "SIDECAR_URL": "http://127.0.0.1:8090",
        "PGPASSWORD": key,
        "SIDECAR_API_KEY": key,
        "OPENAI_API_KEY": key,
    }
    # A variable the container sets itself is left alone, and it comes first as before.
    agent = containers["agent"]["env"]
    assert agent[0] == {"name": "PGHOST", "value": "db.example.com"}
    assert [v["name"] for v in agent].count("PGHOST") == 1
    assert "env" not in by_name(mutated["spec"]["initContainers"])["migrate"]


def test_annotations_override_image_resources_and_identity(tmp_path: Path) -> None:
    settings = {"allowedImages": ["registry.example.com/agent-sidecar:*"]}
    webhook = start_webhook(tmp_path, settings)
    try:
        annotations = {
            **OPT_IN,
            "agent-sidecar.io/image": "registry.example.com/agent-sidecar:0.2.0",
            "agent-sidecar.io/cpu": "500m",
            "agent-sidecar.io/memory": "2Gi",
            "agent-sidecar.io/identity": "sre-agent",
        }
        mutated = webhook.inject(agent_pod(annotations))
        validate(mutated)
        sidecar = by_name(mutated["spec"]["initContainers"])["agent-sidecar"]
        assert sidecar["image"] == "registry.example.com/agent-sidecar:0.2.0"
        assert sidecar["resources"] == {
            "requests": {"cpu": "500m", "memory": "2Gi"},
            "limits": {"memory": "2Gi"},
        }
        tools = env_of(by_name(mutated["spec"]["containers"])["tools"])
        assert tools["PGUSER"] == "sre-agent"
        assert tools["DATABASE_URL"] == "postgresql://sre-agent@127.0.0.1:15432/sre-agent"
    finally:
        stop(webhook)


def test_plain_container_for_older_clusters(tmp_path: Path) -> None:
    webhook = start_webhook(tmp_path, {"native": False, "ports": {"http": 18090}})
    try:
        pod = agent_pod()
        mutated = webhook.inject(pod)
        validate(mutated)
        spec = mutated["spec"]
        assert [c["name"] for c in spec["initContainers"]] == ["migrate"]
        assert [c["name"] for c in spec["containers"]] == ["agent-sidecar", "agent", "tools"]
        sidecar = spec["containers"][0]
        assert "restartPolicy" not in sidecar
        hook = sidecar["lifecycle"]["postStart"]["exec"]["command"]
        assert hook[-3:] == ["--wait", "300", "http://127.0.0.1:18090/v1/ready"]
        assert "--http-port" in sidecar["command"]
        assert sidecar["command"][sidecar["command"].index("--http-port") + 1] == "18090"
        # kubectl logs/exec keep going to the agent, not to the sidecar now listed first.
        annotations = mutated["metadata"]["annotations"]
        assert annotations["kubectl.kubernetes.io/default-container"] == "agent"
        assert webhook.review(mutated).get("patch") is None
    finally:
        stop(webhook)


def test_egress_lock_runs_first_with_net_admin_only(webhook: Webhook) -> None:
    annotations = {**OPT_IN, "agent-sidecar.io/egress-lock": "true"}
    mutated = webhook.inject(agent_pod(annotations))
    validate(mutated)
    init = mutated["spec"]["initContainers"]
    assert [c["name"] for c in init] == ["agent-sidecar-egress-lock", "agent-sidecar", "migrate"]
    lock = init[0]
    assert lock["command"] == [
        *("python", "-m", "sidecar.inject.egress", "--sidecar-uid", "10001"),
    ]
    assert lock["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    others = [c for c in init[1:] + mutated["spec"]["containers"]]
    assert not any(
        "add" in (c.get("securityContext") or {}).get("capabilities", {}) for c in others
    )


# ---- idempotent, opt-out, namespaces ----------------------------------------------------------


def test_an_injected_pod_is_not_patched_twice(webhook: Webhook) -> None:
    annotations = {**OPT_IN, "agent-sidecar.io/egress-lock": "true"}
    once = webhook.inject(agent_pod(annotations))
    response = webhook.review(once)
    assert response["allowed"] and "patch" not in response
    # Reinvoked after another webhook added a container: only that container gets the env.
    once["spec"]["containers"].append({"name": "late", "image": "example.com/late:1.0"})
    again = webhook.inject(once)
    patch = operations(webhook.review(once))
    assert {op["path"] for op in patch} == {"/spec/containers/2/env"}
    assert len(again["spec"]["initContainers"]) == 3
    assert env_of(by_name(again["spec"]["containers"])["late"])["PGPORT"] == "15432"
    validate(again)


def test_opt_out_and_pods_that_did_not_ask(webhook: Webhook) -> None:
    opted_out = {**OPT_IN, "agent-sidecar.io/inject": "false"}
    for pod, path in (
        (agent_pod(opted_out), "/inject"),
        (agent_pod(opted_out), "/inject/namespace"),
        (agent_pod({}), "/inject"),
    ):
        response = webhook.review(pod, path)
        assert response["allowed"] and "patch" not in response, (path, response)


def test_a_namespace_that_opted_in_injects_pods_without_the_annotation(
    webhook: Webhook,
) -> None:
    annotations = {"agent-sidecar.io/config": "team-sidecar"}
    mutated = webhook.inject(agent_pod(annotations), "/inject/namespace")
    volumes = by_name(mutated["spec"]["volumes"])
    assert volumes["agent-sidecar-config"]["configMap"] == {"name": "team-sidecar"}
    validate(mutated)


# ---- fail closed ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "spec", "expected"),
    [
        (
            {"agent-sidecar.io/config": None},
            {},
            "names no ConfigMap: add the annotation agent-sidecar.io/config",
        ),
        (
            {"agent-sidecar.io/egress-lok": "true"},
            {},
            "unknown annotation agent-sidecar.io/egress-lok: did you mean "
            "agent-sidecar.io/egress-lock?",
        ),
        ({"agent-sidecar.io/inject": "yes"}, {}, '"yes" is not "true" or "false"'),
        ({"agent-sidecar.io/memory": "lots"}, {}, "is not a positive Kubernetes quantity"),
        ({"agent-sidecar.io/cpu": "0"}, {}, "is not a positive Kubernetes quantity"),
        ({"agent-sidecar.io/config": "Not_A_Name"}, {}, "is not a ConfigMap name"),
        ({"agent-sidecar.io/secrets": None}, {}, "names no Secret: add agent-sidecar.io/secrets"),
        (
            {"agent-sidecar.io/image": "evil.example.com/sidecar:1"},
            {},
            "is not an allowed sidecar image; allowed: agent-sidecar:0.1.0",
        ),
        (
            {"agent-sidecar.io/egress-lock": "true"},
            {"securityContext": {"runAsUser": 10001}},
            "runAsUser is 10001, the sidecar's user",
        ),
        (
            {"agent-sidecar.io/egress-lock": "true"},
            {"hostNetwork": True},
            "cannot be used with hostNetwork",
        ),
        ({}, {"volumes": [{"name": "agent-sidecar-tmp", "emptyDir": {}}]}, "rename it"),
    ],
)
def test_denials_say_what_to_fix(
    webhook: Webhook, change: dict[str, str | None], spec: dict[str, Any], expected: str
) -> None:
    annotations = {k: v for k, v in {**OPT_IN, **change}.items() if v is not None}
    response = webhook.review(agent_pod(annotations, **spec))
    assert response["allowed"] is False
    assert "patch" not in response
    assert response["status"]["code"] == 400
    assert expected in response["status"]["message"]
    assert "denied pod agents/sre-agent-*" in webhook.log.read_text()


def test_a_privileged_agent_cannot_have_the_egress_lock(webhook: Webhook) -> None:
    pod = agent_pod({**OPT_IN, "agent-sidecar.io/egress-lock": "true"})
    pod["spec"]["containers"][1]["securityContext"] = {"capabilities": {"add": ["NET_ADMIN"]}}
    response = webhook.review(pod)
    assert not response["allowed"]
    assert "container tools is privileged or adds NET_ADMIN" in response["status"]["message"]


def test_a_forged_sidecar_does_not_pass_for_the_egress_lock(webhook: Webhook) -> None:
    """A pod carrying its own `agent-sidecar` (running as the sidecar's user, which the lock
    lets out) must not be taken for an injected one."""
    pod = agent_pod({**OPT_IN, "agent-sidecar.io/egress-lock": "true"})
    mutated = webhook.inject(copy.deepcopy(pod))
    forged = copy.deepcopy(mutated)
    forged["spec"]["initContainers"][1]["command"] = ["python", "-c", "exfiltrate()"]
    response = webhook.review(forged)
    assert not response["allowed"]
    assert "remove both from the pod" in response["status"]["message"]
    without_lock = copy.deepcopy(mutated)
    del without_lock["spec"]["initContainers"][0]
    assert not webhook.review(without_lock)["allowed"]


def test_secrets_are_never_in_the_patch(webhook: Webhook) -> None:
    """Only references to the Secret travel: its name and key, never a value."""
    annotations = {**OPT_IN, "agent-sidecar.io/egress-lock": "true"}
    pod = agent_pod(annotations)
    response = webhook.review(pod)
    patch = operations(response)
    mutated = jsonpatch.apply_patch(pod, patch)
    for container in mutated["spec"]["containers"] + mutated["spec"]["initContainers"]:
        for variable in container.get("env", []):
            if "KEY" in variable["name"] or "PASSWORD" in variable["name"]:
                assert set(variable) == {"name", "valueFrom"}
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "sre-agent-secrets"
            else:
                assert "valueFrom" not in variable
    volumes = mutated["spec"]["volumes"]
    assert not any("secret" in volume for volume in volumes)


def test_bad_requests_get_400_and_other_objects_pass(webhook: Webhook) -> None:
    assert webhook.client.post("/inject", content=b"{not json").status_code == 400
    response = webhook.client.post("/inject", json={"kind": "AdmissionReview"})
    assert response.status_code == 400
    assert "admissionReviewVersions: [v1]" in response.json()["error"]["message"]
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    response_body = webhook.review(
        config_map, kind={"group": "", "version": "v1", "kind": "ConfigMap"}
    )
    assert response_body["allowed"] and "patch" not in response_body
    strange = agent_pod()
    strange["spec"]["containers"] = "not a list"
    assert not webhook.review(strange)["allowed"]
    deep = webhook.client.post("/inject", content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400 and "nests too deeply" in deep.json()["error"]["message"]
    nested = agent_pod()
    nested["spec"]["containers"][0]["env"] = [{"name": "X", "value": "v", "x": [[[[[[1]]]]]]}]
    assert "allowed" in webhook.review(nested)  # answered, not a 500
    huge = webhook.client.post("/inject", content=b" " * (admission.MAX_BODY + 1))
    assert huge.status_code == 413
    assert webhook.process.poll() is None


# ---- render: the same result offline ----------------------------------------------------------


def render(
    manifest: str, directory: Path, *args: str, command: list[str] = INJECT
) -> subprocess.CompletedProcess[str]:
    source = directory / "manifest.yaml"
    source.write_text(manifest)
    return subprocess.run(
        [*command, "render", "-f", str(source), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )


def test_render_gives_what_the_webhook_gives(webhook: Webhook, tmp_path: Path) -> None:
    annotations = {**OPT_IN, "agent-sidecar.io/egress-lock": "true"}
    pod = agent_pod(annotations)
    template = {"metadata": pod["metadata"], "spec": pod["spec"]}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "sre-agent", "namespace": "agents"},
        "spec": {"selector": {"matchLabels": {"app": "sre-agent"}}, "template": template},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "sre-agent"},
        "spec": {"selector": {"app": "sre-agent"}, "ports": [{"port": 80}]},
    }
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {
            "schedule": "0 3 * * *",
            "jobTemplate": {"spec": {"template": {**copy.deepcopy(template)}}},
        },
    }
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    manifest = yaml.safe_dump_all([deployment, service, pod, cron])
    result = render(manifest, tmp_path, command=SIDECAR_INJECT)
    assert result.returncode == 0, result.stderr
    rendered = list(yaml.safe_load_all(result.stdout))
    assert rendered[1] == service
    served = webhook.inject(copy.deepcopy(pod))
    assert rendered[2] == served
    assert rendered[0]["spec"]["template"]["spec"] == served["spec"]
    cron_spec = rendered[3]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in cron_spec["initContainers"]][:2] == [
        "agent-sidecar-egress-lock",
        "agent-sidecar",
    ]
    for document in rendered:
        validate(document)
    # Rendering the output again changes nothing, and the webhook leaves it alone too.
    again = render(result.stdout, tmp_path)
    assert list(yaml.safe_load_all(again.stdout)) == rendered
    response = webhook.review(rendered[2])
    assert response["allowed"] and "patch" not in response


def test_render_fails_closed_naming_the_object(tmp_path: Path) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "sre-agent"},
        "spec": {"template": {"metadata": {}, "spec": {"containers": []}}},
    }
    result = render(yaml.safe_dump(deployment), tmp_path)
    assert result.returncode == 1
    assert "Deployment sre-agent: the pod asks for an agent sidecar but names no ConfigMap" in (
        result.stderr
    )
    missing = subprocess.run(
        [*INJECT, "render", "-f", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    (tmp_path / "settings.yaml").write_text("native: maybe\nports: {htp: 1}\n")
    result = render(
        yaml.safe_dump(deployment), tmp_path, "--settings", str(tmp_path / "settings.yaml")
    )
    assert result.returncode == 2
    assert "native" in result.stderr and "ports.htp" in result.stderr


def test_a_renewed_certificate_is_served_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cert-manager rewrites the Secret's files in place; new connections get the new pair."""
    monkeypatch.setattr(admission, "CERTIFICATE_CHECK_SECONDS", 0.05)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    first_ca, second_ca = write_certificates(first), write_certificates(second)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"

    def install(folder: Path) -> None:
        shutil.copy(folder / "tls.crt", cert)
        shutil.copy(folder / "tls.key", key)

    install(first)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def trusted(port: int, ca: Path) -> bool:
        client = ssl.create_default_context(cafile=ca)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        except ssl.SSLCertVerificationError:
            return False
        writer.close()
        return True

    async def scenario() -> None:
        reloader = asyncio.create_task(admission._reload_certificate(context, cert, key))
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        assert await trusted(port, first_ca) and not await trusted(port, second_ca)
        install(second)
        deadline = time.monotonic() + 10
        while not await trusted(port, second_ca):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        cert.write_text("not a certificate")  # a broken renewal keeps the working pair
        await asyncio.sleep(0.3)
        assert await trusted(port, second_ca)
        reloader.cancel()
        server.close()

    asyncio.run(scenario())
