"""Generates the per-service Kubernetes manifests of `base/` and the monitoring objects.

    .venv/bin/python deploy/k8s/build.py          # rewrite the generated files
    .venv/bin/python deploy/k8s/build.py --check  # exit 1 when they are stale

Six services share one shape (Deployment, Service, ServiceAccount, PodDisruptionBudget,
NetworkPolicy, HorizontalPodAutoscaler for the stateless ones), so it is written once here
and the YAML is committed for review; `tests/deploy/test_deploy_k8s.py` renders the
overlays with `kubectl kustomize` and checks the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.devstack.codegen import generator_command

HERE = Path(__file__).resolve().parent
DEPLOY = HERE.parent
BASE = HERE / "base"
MONITORING = HERE / "monitoring"
REGISTRY = "ghcr.io/botcenter"
VERSION = "0.1.0"
PORT = 8080
# /metrics only here (`<P>METRICS_PORT`), never on PORT: the Ingress reaches PORT, and only
# Prometheus (namespace monitoring) reaches this one.
METRICS_PORT = 9090
UID = 10001

# Where the services' dependencies live (see deploy/README.md): NATS from its Helm chart and
# the CloudNativePG cluster in this namespace, MinIO in its own, the collector in this one.
NATS_POD = {"app.kubernetes.io/name": "nats"}
POSTGRES_POD = {"cnpg.io/cluster": "botcenter-db"}
MINIO_NAMESPACE = "minio"
MONITORING_NAMESPACE = "monitoring"
INGRESS_NAMESPACE = "ingress-nginx"


@dataclass(frozen=True)
class Svc:
    name: str  # registry name: gateway, auth, ...
    folder: str  # image and object name
    prefix: str
    replicas: int
    hpa_max: int | None  # None = no autoscaler (bot-service: units move by rendezvous)
    cpu: str
    memory: str
    memory_limit: str
    vault: bool = False
    database: bool = True
    internet: bool = False  # Discord, OAuth providers, users' API connections
    object_storage: bool = False
    exposed: bool = False  # reached from the Ingress controller
    grace_s: int = 30


SERVICES = [
    Svc("gateway", "gateway", "GATEWAY", 2, 10, "100m", "128Mi", "512Mi", database=False,
        exposed=True),
    Svc("auth", "auth-service", "AUTH", 2, 6, "100m", "128Mi", "512Mi", vault=True,
        internet=True),
    # Sessions are handed off on SIGTERM (leases released after closing): drain_timeout_s (20 s)
    # + closing hundreds of sessions + lease release, with margin.
    Svc("bot", "bot-service", "BOT", 2, None, "250m", "256Mi", "1Gi", vault=True,
        internet=True, grace_s=90),
    Svc("command", "command-service", "COMMAND", 2, 10, "100m", "192Mi", "768Mi", vault=True,
        internet=True),
    Svc("storage", "storage-service", "STORAGE", 2, 6, "200m", "256Mi", "1Gi",
        object_storage=True),
    Svc("log", "log-service", "LOG", 2, 6, "100m", "192Mi", "768Mi", exposed=True, grace_s=45),
]


def labels(svc: Svc) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.folder, "app.kubernetes.io/part-of": "botcenter"}


def selector(svc: Svc) -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.folder}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def env(svc: Svc) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"name": f"{svc.prefix}_NATS_USER", "value": f"bc_{svc.name}"},
        _secret_env(f"{svc.prefix}_NATS_PASSWORD", "botcenter-nats", svc.name),
        # Replica name in metrics, status and logs.
        {"name": f"{svc.prefix}_INSTANCE",
         "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "SENTRY_DSN", "valueFrom": {"secretKeyRef": {
            "name": "botcenter-sentry", "key": "dsn", "optional": True}}},
        {"name": f"{svc.prefix}_METRICS_PORT", "value": str(METRICS_PORT)},
    ]
    if svc.database:
        out.append(_secret_env("DB_ROLE_PASSWORD", "botcenter-db-roles", "password"))
    if svc.vault:
        out.append(_secret_env("VAULT_KEYS", "botcenter-vault", "keys"))
    if svc.name == "auth":
        out += [
            _secret_env("AUTH_DISCORD_CLIENT_ID", "botcenter-oauth", "discord-client-id"),
            _secret_env("AUTH_DISCORD_CLIENT_SECRET", "botcenter-oauth", "discord-client-secret"),
            _secret_env("AUTH_GOOGLE_CLIENT_ID", "botcenter-oauth", "google-client-id"),
            _secret_env("AUTH_GOOGLE_CLIENT_SECRET", "botcenter-oauth", "google-client-secret"),
        ]
    if svc.object_storage:
        out += [
            _secret_env("STORAGE_S3_ACCESS_KEY", "botcenter-s3", "access-key"),
            _secret_env("STORAGE_S3_SECRET_KEY", "botcenter-s3", "secret-key"),
        ]
    if svc.name == "log":
        # The gateway's local websocket proxy reaches this replica by pod IP.
        out += [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "LOG_PUBLIC_URL", "value": f"http://$(POD_IP):{PORT}"},
        ]
    return out


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(svc: Svc) -> dict[str, Any]:
    container = {
        "name": svc.folder,
        "image": f"{REGISTRY}/{svc.folder}:{VERSION}",
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "envFrom": [{"configMapRef": {"name": "botcenter-config"}}],
        "env": env(svc),
        # Ready = NATS and the database answer; alive = the process serves HTTP (never
        # depends on other services, so a NATS outage does not restart every pod).
        "readinessProbe": _probe("/readyz", 5, 3),
        "livenessProbe": _probe("/healthz", 10, 6),
        "startupProbe": _probe("/healthz", 2, 30),
        "resources": {
            "requests": {"cpu": svc.cpu, "memory": svc.memory},
            "limits": {"memory": svc.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "spec": {
            "replicas": svc.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(svc)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0 if svc.hpa_max else 1, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(svc)},
                "spec": {
                    "serviceAccountName": svc.folder,
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": svc.grace_s,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [{
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector(svc)},
                    }],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
                },
            },
        },
    }


def service(svc: Svc) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "spec": {
            "selector": selector(svc),
            "ports": [
                {"name": "http", "port": PORT, "targetPort": "http"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
            ],
        },
    }


def service_account(svc: Svc) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "automountServiceAccountToken": False,
    }


def pdb(svc: Svc) -> dict[str, Any]:
    # maxUnavailable (never minAvailable = replicas, never 0): a node drain always proceeds.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(svc)}},
    }


def hpa(svc: Svc) -> dict[str, Any]:
    assert svc.hpa_max is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.folder},
            "minReplicas": svc.replicas,
            "maxReplicas": svc.hpa_max,
            "metrics": [{
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                        "averageUtilization": 70}},
            }],
        },
    }


def _ns(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policy(svc: Svc) -> dict[str, Any]:
    http = [{"protocol": "TCP", "port": PORT}]
    ingress: list[dict[str, Any]] = [
        # Prometheus scrapes /metrics, on the metrics port only.
        {"from": [_ns(MONITORING_NAMESPACE)],
         "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
    ]
    if svc.exposed:
        ingress.append({"from": [_ns(INGRESS_NAMESPACE)], "ports": http})
    if svc.name == "log":
        # The gateway proxies /v1/stream when a client reaches it instead of the Ingress path.
        ingress.append({"from": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "gateway"}}}], "ports": http})
    egress: list[dict[str, Any]] = [
        {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {
            "k8s-app": "kube-dns"}}}],
         "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"podSelector": {"matchLabels": NATS_POD}}],
         "ports": [{"protocol": "TCP", "port": 4222}]},
        {"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "otel-collector"}}}],
         "ports": [{"protocol": "TCP", "port": 4318}]},
    ]
    if svc.database:
        egress.append({"to": [{"podSelector": {"matchLabels": POSTGRES_POD}}],
                       "ports": [{"protocol": "TCP", "port": 5432}]})
    if svc.object_storage:
        egress.append({"to": [_ns(MINIO_NAMESPACE)],
                       "ports": [{"protocol": "TCP", "port": 9000}]})
    if svc.name == "gateway":
        egress.append({"to": [{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "log-service"}}}], "ports": http})
    if svc.internet or svc.object_storage:
        # Public HTTPS only (Discord, OAuth providers, S3, users' API connections); private
        # ranges stay closed so a user's API connection cannot reach cluster services.
        egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [
            "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
            "100.64.0.0/10", "127.0.0.0/8"]}}],
            "ports": [{"protocol": "TCP", "port": 443}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": svc.folder, "labels": labels(svc)},
        "spec": {
            "podSelector": {"matchLabels": selector(svc)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def service_objects(svc: Svc) -> list[dict[str, Any]]:
    objects = [service_account(svc), deployment(svc), service(svc), pdb(svc),
               network_policy(svc)]
    if svc.hpa_max is not None:
        objects.append(hpa(svc))
    return objects


def _dump(objects: list[dict[str, Any]], header: str) -> str:
    body = "---\n".join(yaml.safe_dump(o, sort_keys=False, width=100) for o in objects)
    return header + body


HEADER = "# Generated by deploy/k8s/build.py: do not edit by hand.\n"


def prometheus_rule() -> dict[str, Any]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "botcenter", "labels": {"app.kubernetes.io/part-of": "botcenter",
                                                     "release": "kube-prometheus-stack"}},
        "spec": {"groups": rules["groups"]},
    }


def pod_monitor() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "botcenter", "labels": {"app.kubernetes.io/part-of": "botcenter",
                                                     "release": "kube-prometheus-stack"}},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/part-of": "botcenter"}},
            "podMetricsEndpoints": [{
                "port": "metrics",
                "path": "/metrics",
                "interval": "15s",
                # The same names as docker-compose's Prometheus: job="botcenter", app=<service>.
                "relabelings": [
                    {"targetLabel": "job", "replacement": "botcenter"},
                    {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                     "targetLabel": "app"},
                ],
            }],
        },
    }


def dashboards() -> list[dict[str, Any]]:
    out = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        out.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"botcenter-dashboard-{path.stem}",
                # Picked up by the Grafana sidecar of kube-prometheus-stack.
                "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "botcenter"},
            },
            "data": {path.name: json.dumps(json.loads(path.read_text()), indent=1)},
        })
    return out


def outputs() -> dict[Path, str]:
    out = {
        BASE / "services" / f"{svc.folder}.yaml": _dump(service_objects(svc), HEADER)
        for svc in SERVICES
    }
    out[MONITORING / "prometheusrule.yaml"] = _dump([prometheus_rule()], HEADER)
    out[MONITORING / "podmonitor.yaml"] = _dump([pod_monitor()], HEADER)
    out[MONITORING / "dashboards.yaml"] = _dump(dashboards(), HEADER)
    # The NATS users (no password: `$NATS_PASSWORD_*` variables) for the Helm chart's
    # `$include`; copied here because Kustomize reads files only below its own folder.
    out[BASE / "nats-auth.conf"] = (DEPLOY / "nats" / "auth.conf").read_text()
    return out


main = generator_command(outputs, doc=__doc__, regenerate=".venv/bin/python deploy/k8s/build.py")


if __name__ == "__main__":
    raise SystemExit(main())
