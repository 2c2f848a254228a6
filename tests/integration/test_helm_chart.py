"""helm/agent-sidecar rendered with Helm v4's SDK (helm-python-sdk, no helm binary) for each
values file in its ci/ folder, linted, and every manifest validated strictly against the
Kubernetes 1.29 and 1.34 schemas; then the rendered injector is started as its Deployment
says, with the certificate Helm generated, and the named templates are checked against the
webhook's own output.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import helm_python
import httpx
import jsonpatch
import kubernetes_validate
import pytest
import yaml

from sidecar import __version__
from sidecar.inject.injector import Injector
from sidecar.inject.patch import apply
from sidecar.inject.settings import Settings, load_settings
from tests.process import free_port

CHART = Path(__file__).parents[2] / "helm" / "agent-sidecar"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
VERSIONS = ("1.29.0", "1.34.0")
CERT_MANAGER = "cert-manager.io/v1"
RELEASE, NAMESPACE = "agent-sidecar", "agent-sidecar"
SERVICE_DNS = f"{RELEASE}.{NAMESPACE}.svc"


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any], chart: Path = CHART) -> list[dict[str, Any]]:
    loaded = helm_python.Chart.load(chart)
    manifests = loaded.render(values, name=RELEASE, namespace=NAMESPACE)
    return [
        document
        for path, text in sorted(manifests.items())
        if path.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    ]


def find(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [document for document in documents if document["kind"] == kind]


@pytest.fixture(scope="module", params=VALUES, ids=lambda path: path.stem)
def values_file(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_the_values_files_cover_the_chart() -> None:
    assert {path.stem for path in VALUES} >= {
        "default-values",
        "cert-manager-values",
        "cluster-issuer-values",
        "older-cluster-values",
    }


def test_lint_is_clean(values_file: Path) -> None:
    report = helm_python.lint(CHART, values_of(values_file), strict=True, namespace=NAMESPACE)
    assert report["errors"] == []
    # Severity 1 is INFO (an icon is recommended); warnings and errors fail.
    assert [m for m in report["messages"] if m["severity"] > 1] == []


def test_every_manifest_is_valid_for_kubernetes_1_29_and_1_34(values_file: Path) -> None:
    documents = render(values_of(values_file))
    kinds = {document["kind"] for document in documents}
    assert {"Deployment", "Service", "MutatingWebhookConfiguration", "ServiceAccount"} <= kinds
    for document in documents:
        if document["apiVersion"] == CERT_MANAGER:
            assert document["kind"] in ("Issuer", "Certificate")
            continue  # cert-manager's CRDs are not in the Kubernetes schemas
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(
                    f"{document['kind']} {document['metadata']['name']} is invalid for "
                    f"{version}: {error.message} at {list(error.path)}"
                )


def test_an_invalid_value_is_refused_by_the_schema() -> None:
    for values in (
        {"webhook": {"failurePolicy": "Sometimes"}},
        {"sidecar": {"nativ": False}},
        {"sidecar": {"ports": {"http": 70000}}},
    ):
        with pytest.raises(helm_python.HelmValuesError):
            render(values)


def test_the_webhook_configuration() -> None:
    documents = render({})
    (configuration,) = find(documents, "MutatingWebhookConfiguration")
    webhooks = {webhook["name"]: webhook for webhook in configuration["webhooks"]}
    assert set(webhooks) == {"namespace.inject.agent-sidecar.io", "pod.inject.agent-sidecar.io"}
    for webhook in webhooks.values():
        assert webhook["failurePolicy"] == "Fail"
        assert webhook["sideEffects"] == "None"
        assert webhook["timeoutSeconds"] == 10
        assert webhook["reinvocationPolicy"] == "IfNeeded"
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["rules"] == [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "scope": "Namespaced",
            }
        ]
        excluded = webhook["namespaceSelector"]["matchExpressions"][0]
        assert excluded["key"] == "kubernetes.io/metadata.name"
        assert excluded["operator"] == "NotIn"
        assert {"kube-system", NAMESPACE} <= set(excluded["values"])
        assert webhook["objectSelector"]["matchExpressions"][0]["values"] == ["false"]
    namespaces = webhooks["namespace.inject.agent-sidecar.io"]
    assert namespaces["clientConfig"]["service"]["path"] == "/inject/namespace"
    assert namespaces["namespaceSelector"]["matchExpressions"][1] == {
        "key": "agent-sidecar.io/inject",
        "operator": "In",
        "values": ["true"],
    }
    pods = webhooks["pod.inject.agent-sidecar.io"]
    assert pods["clientConfig"]["service"]["path"] == "/inject"
    (deployment,) = find(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    (budget,) = find(documents, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    (account,) = find(documents, "ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert not find(documents, "Role") and not find(documents, "ClusterRole")


def test_older_cluster_values_reach_the_webhook_and_settings() -> None:
    documents = render(values_of(CHART / "ci" / "older-cluster-values.yaml"))
    (configuration,) = find(documents, "MutatingWebhookConfiguration")
    for webhook in configuration["webhooks"]:
        excluded = webhook["namespaceSelector"]["matchExpressions"][0]["values"]
        assert excluded == ["kube-system", NAMESPACE, "monitoring"]
        assert webhook["reinvocationPolicy"] == "Never"
    assert not find(documents, "PodDisruptionBudget")
    settings = chart_settings(documents)
    assert settings.native is False
    assert settings.image == "registry.example.com/agent-sidecar:0.1.0"
    assert settings.ports.http == 18090 and settings.identity == "sre-agent"


def chart_settings(documents: list[dict[str, Any]]) -> Settings:
    (config_map,) = find(documents, "ConfigMap")
    return Settings.model_validate(yaml.safe_load(config_map["data"]["settings.yaml"]))


def test_cert_manager_issues_and_injects_the_ca() -> None:
    documents = render(values_of(CHART / "ci" / "cert-manager-values.yaml"))
    assert not find(documents, "Secret")
    (certificate,) = find(documents, "Certificate")
    (issuer,) = find(documents, "Issuer")
    assert issuer["spec"] == {"selfSigned": {}}
    assert certificate["spec"]["issuerRef"] == {
        "name": issuer["metadata"]["name"],
        "kind": "Issuer",
    }
    assert SERVICE_DNS in certificate["spec"]["dnsNames"]
    (deployment,) = find(documents, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == certificate["spec"]["secretName"]
    (configuration,) = find(documents, "MutatingWebhookConfiguration")
    annotation = configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert annotation == f"{NAMESPACE}/{certificate['metadata']['name']}"
    assert all("caBundle" not in w["clientConfig"] for w in configuration["webhooks"])
    cluster = render(values_of(CHART / "ci" / "cluster-issuer-values.yaml"))
    assert not find(cluster, "Issuer")
    (certificate,) = find(cluster, "Certificate")
    assert certificate["spec"]["issuerRef"]["kind"] == "ClusterIssuer"


def test_chart_versions_follow_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["appVersion"] == values["image"]["tag"] == __version__
    # The chart's defaults are the injector's own defaults: one list of knobs, two readers.
    defaults = Settings()
    assert chart_settings(render({})) == defaults.model_copy(
        update={"image": f"agent-sidecar:{__version__}"}
    )


# ---- the rendered injector, started as its Deployment says ------------------------------------


def test_the_rendered_injector_serves_with_the_generated_certificate(tmp_path: Path) -> None:
    documents = render({})
    (secret,) = find(documents, "Secret")
    (config_map,) = find(documents, "ConfigMap")
    (deployment,) = find(documents, "Deployment")
    (configuration,) = find(documents, "MutatingWebhookConfiguration")
    ca_bundle = configuration["webhooks"][0]["clientConfig"]["caBundle"]
    assert ca_bundle == secret["data"]["ca.crt"]
    # Lay out the pod's mounts in tmp_path, then run the container's command as written.
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    contents = {
        "tls": {name: base64.b64decode(value) for name, value in secret["data"].items()},
        "settings": {name: value.encode() for name, value in config_map["data"].items()},
    }
    command = list(container["command"])
    for mount in container["volumeMounts"]:
        folder = tmp_path / mount["name"]
        folder.mkdir()
        for name, data in contents[mount["name"]].items():
            (folder / name).write_bytes(data)
        command = [part.replace(mount["mountPath"], str(folder)) for part in command]
    assert command[:3] == ["python", "-m", "sidecar.inject"]
    port = free_port()
    command = [sys.executable, *command[1:-1], str(port), "--host", "127.0.0.1"]
    assert load_settings(tmp_path / "settings" / "settings.yaml") == chart_settings(documents)
    log = tmp_path / "injector.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    # The API server's view: the CA bundle must vouch for the Service's DNS name.
    context = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
    client = httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=10)
    try:
        probe = container["readinessProbe"]["httpGet"]
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                health = client.get(probe["path"], extensions={"sni_hostname": SERVICE_DNS})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        assert health.status_code == 200
        with (
            httpx.Client(verify=context) as fresh,
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            fresh.get(
                f"https://127.0.0.1:{port}/health",
                extensions={"sni_hostname": "elsewhere.example.com"},
            )
        pod_object = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "agent",
                "annotations": {
                    "agent-sidecar.io/inject": "true",
                    "agent-sidecar.io/config": "sre-agent-sidecar",
                },
            },
            "spec": {"containers": [{"name": "agent", "image": "example.com/agent:1"}]},
        }
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "1",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "object": pod_object,
            },
        }
        path = configuration["webhooks"][1]["clientConfig"]["service"]["path"]
        answer = client.post(path, json=review, extensions={"sni_hostname": SERVICE_DNS}).json()
        patch = json.loads(base64.b64decode(answer["response"]["patch"]))
        mutated = jsonpatch.apply_patch(pod_object, patch)
        assert mutated["spec"]["initContainers"][0]["image"] == f"agent-sidecar:{__version__}"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


# ---- the named templates ----------------------------------------------------------------------


def readme_example() -> str:
    text = (CHART / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    (example,) = [block for block in blocks if "agent-sidecar.initContainers" in block]
    return example


@pytest.mark.parametrize("native", [True, False], ids=["native", "plain"])
def test_the_readme_example_gets_what_the_webhook_injects(tmp_path: Path, native: bool) -> None:
    parent = tmp_path / "my-agent"
    (parent / "templates").mkdir(parents=True)
    (parent / "Chart.yaml").write_text("apiVersion: v2\nname: my-agent\nversion: 1.0.0\n")
    (parent / "templates" / "agent.yaml").write_text(readme_example())
    shutil.copytree(CHART, parent / "charts" / "agent-sidecar")
    documents = render({"agent-sidecar": {"sidecar": {"native": native}}}, parent)
    (agent,) = [d for d in find(documents, "Deployment") if d["metadata"]["name"] == "sre-agent"]
    for version in VERSIONS:
        kubernetes_validate.validate(agent, version, strict=True)
    template = agent["spec"]["template"]
    # The same workload written bare, with the annotations the template's arguments stand for.
    bare = json.loads(json.dumps(template))
    spec = bare["spec"]
    spec["containers"] = [c for c in spec["containers"] if c["name"] == "agent"]
    del spec["containers"][0]["env"]
    del spec["initContainers"], spec["volumes"]
    bare["metadata"]["annotations"].update(
        {
            "agent-sidecar.io/inject": "true",
            "agent-sidecar.io/config": "sre-agent-sidecar",
            "agent-sidecar.io/secrets": "sre-agent-secrets",
            "agent-sidecar.io/api-key": "AGENT_KEY",
            "agent-sidecar.io/egress-lock": "true",
        }
    )
    injector = Injector(Settings(native=native))
    injected = apply(bare, injector.patch(bare))
    assert injected["spec"] == template["spec"]
