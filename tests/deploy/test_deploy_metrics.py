"""Every metric a dashboard or an alert rule reads is one the code exports.

Each service is loaded through its `botcenter.services` entry point (as `botcenter service
NAME` does) and the kernel's `/metrics` route (`services.health`) is asked what it serves.
PromQL is parsed by a real parser (promql-parser), so a typo in a metric name or a broken
expression fails here, not in Grafana at 3 a.m.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from proto.registry import SERVICES

promql = pytest.importorskip("promql_parser", reason="promql-parser is not installed")

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"

# Series that are not ours, so no registry of ours can vouch for them:
# - `up`: written by Prometheus itself for every scrape target;
# - `nats_*`: prometheus-nats-exporter (`-prefix=nats -jsz=all`, the NATS Helm chart's and
#   docker-compose's flags): JetStream consumer state per stream/consumer.
EXTERNAL = {
    "up",
    "nats_consumer_num_pending",
    "nats_consumer_num_ack_pending",
}

_PROBE = r"""
import json
from importlib.metadata import entry_points
from types import SimpleNamespace
from starlette.applications import Starlette
from starlette.testclient import TestClient
from services.health import health_routes

client = TestClient(Starlette(routes=health_routes(SimpleNamespace(name="probe"))))

def families():
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    out = {}
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, metric, kind = line.split(" ", 3)
            out[metric] = kind
    return out

kernel = families()
served, seen = {}, dict(kernel)
for ep in entry_points(group="botcenter.services"):
    ep.load()  # imports the service package, as `botcenter service NAME` does
    now = families()
    # Services never import each other, so what this load added is this service's own.
    served[ep.name] = {**kernel, **{k: v for k, v in now.items() if k not in seen}}
    seen = now
print(json.dumps(served))
"""


@cache
def served() -> dict[str, dict[str, str]]:
    """service -> {metric family: type} its /metrics serves (the kernel's route; one
    process loading each service's entry point in turn)."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, dict[str, str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(SERVICES) <= set(out), f"services not installed: {set(SERVICES) - set(out)}"
    return out


def series_names(families: dict[str, str]) -> set[str]:
    """The sample names a family exposes (what PromQL selects)."""
    names = set()
    for family, kind in families.items():
        base = family.removesuffix("_total")
        if kind == "counter":
            names |= {base + "_total", base + "_created"}
        elif kind == "histogram":
            names |= {family + s for s in ("_bucket", "_count", "_sum", "_created")}
        elif kind == "summary":
            names |= {family, family + "_count", family + "_sum", family + "_created"}
        else:
            names.add(family)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names selected by one PromQL expression (Grafana's variables filled in)."""
    text = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
    found: set[str] = set()

    def walk(node: object) -> None:
        kind = type(node).__name__
        if kind == "VectorSelector":
            name = node.name  # type: ignore[attr-defined]
            assert name, f"selector without a metric name in {expr!r}"
            found.add(name)
            return
        if kind == "MatrixSelector":
            walk(node.vector_selector)  # type: ignore[attr-defined]
            return
        for attr in ("lhs", "rhs", "expr", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (int, float, str)):
                walk(child)
        for arg in getattr(node, "args", None) or []:
            walk(arg)

    walk(promql.parse(text))
    return found


def dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(f"rules: {r['alert']}", r["expr"]) for g in groups for r in g["rules"]]


def test_the_parser_sees_names_and_refuses_nonsense() -> None:
    assert metric_names(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x="1"}[5m]))) / on() b + 1'
    ) == {"a_bucket", "b"}
    with pytest.raises(ValueError):
        metric_names("sum by (le (rate(a[5m])")


def test_there_are_dashboards_and_rules_to_check() -> None:
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARDS}
    assert {"botcenter / platform", "botcenter / bots", "botcenter / commands",
            "botcenter / logs"} <= titles
    assert len(rule_exprs()) >= 5


def test_every_dashboard_and_alert_metric_is_exported() -> None:
    exported: set[str] = set()
    for families in served().values():
        exported |= series_names(families)
    missing = []
    for where, expr in dashboard_exprs() + rule_exprs():
        for name in metric_names(expr) - exported - EXTERNAL:
            missing.append(f"{where}: {name}")
    assert not missing, "metrics no service exports:\n" + "\n".join(missing)


def test_every_service_serves_the_kernel_metrics() -> None:
    kernel = {"botcenter_rpc_server_seconds_bucket", "botcenter_rpc_client_seconds_bucket",
              "botcenter_rpc_in_flight", "botcenter_service_ready"}
    for name, families in served().items():
        assert kernel <= series_names(families), f"{name} lacks {kernel - series_names(families)}"
    assert "botcenter_http_requests_total" in series_names(served()["gateway"])


def test_dashboards_are_built_from_the_generator() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "grafana" / "build.py"), "--check"],
        capture_output=True, text=True,
    )
    assert check.returncode == 0, check.stderr


def test_every_alert_has_a_runbook_section() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert f"### {rule['alert']}\n" in readme, rule["alert"]
        assert rule["annotations"]["runbook"] == f"deploy/README.md#{rule['alert'].lower()}"
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
