"""Builds the Grafana dashboards in `dashboards/` from the panel lists below.

    .venv/bin/python deploy/grafana/build.py          # rewrite the JSON files
    .venv/bin/python deploy/grafana/build.py --check  # exit 1 when they are stale

Every PromQL expression names only metrics the code exports (our `botcenter_*` registries)
or the NATS exporter's `nats_*` series; `tests/deploy/test_deploy_metrics.py` checks it.
Provisioned by docker-compose (`provisioning/`) and, on Kubernetes, by the Grafana
sidecar from the ConfigMaps that `deploy/k8s/base/monitoring` generates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from services.devstack.codegen import generator_command

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
RATE = "[$__rate_interval]"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}


@dataclass
class Panel:
    title: str
    exprs: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 12


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel] = field(default_factory=list)


def p95(metric: str, by: str, where: str = "") -> str:
    selector = f"{metric}_bucket{{{where}}}" if where else f"{metric}_bucket"
    return f"histogram_quantile(0.95, sum by (le, {by}) (rate({selector}{RATE})))"


def p95_panel(title: str, metric: str, by: str, legend: str = "") -> Panel:
    """A latency panel: the p95 of histogram `metric` per `by` label (legend: the labels)."""
    legend = legend or " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return Panel(title, [(p95(metric, by), legend)], unit="s")


def stat(title: str, expr: str, legend: str, width: int = 12, description: str = "") -> Panel:
    """A single-number panel."""
    return Panel(title, [(expr, legend)], kind="stat", width=width, description=description)


def quantiles(metric: str, qs: tuple[float, ...] = (0.5, 0.95, 0.99)) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket{RATE})))",
            f"p{int(q * 100)}",
        )
        for q in qs
    ]


# Error reasons the bot's owner must fix (token, intents, shard count); the owner sees them
# in the console. Everything else in `error` is ours to look at (rules.yml uses the same set).
OWNER_REASONS = "|".join(
    (
        "invalid_token",
        "disallowed_intents",
        "invalid_intents",
        "sharding_required",
        "invalid_shard",
        "not_found",
    )
)


PLATFORM = Dashboard(
    uid="botcenter-platform",
    title="botcenter / platform",
    description="HTTP edge, NATS RPC and JetStream across every service.",
    panels=[
        stat(
            "Ready replicas per service",
            "sum by (service) (botcenter_service_ready)",
            "{{service}}",
            description="Replicas whose /readyz passed at the last scrape.",
        ),
        stat("Replicas up (scrape)", 'sum by (app) (up{job="botcenter"})', "{{app}}"),
        Panel(
            "Requests per route",
            [
                (
                    f"sum by (method, route) (rate(botcenter_http_requests_total{RATE}))",
                    "{{method}} {{route}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "Server errors (5xx) ratio per route",
            [
                (
                    "sum by (route) (rate(botcenter_http_requests_total"
                    f'{{status=~"5.."}}{RATE})) / sum by (route) '
                    f"(rate(botcenter_http_requests_total{RATE}))",
                    "{{route}}",
                )
            ],
            unit="percentunit",
        ),
        Panel(
            "Client errors per status",
            [
                (
                    "sum by (status) (rate(botcenter_http_requests_total"
                    f'{{status=~"4.."}}{RATE}))',
                    "{{status}}",
                )
            ],
            unit="reqps",
            description="429 here means rate limiting at the gateway.",
        ),
        p95_panel("Latency p95 per route", "botcenter_http_request_seconds", "method, route"),
        p95_panel(
            "RPC latency p95 per subject (handler)", "botcenter_rpc_server_seconds", "subject"
        ),
        p95_panel(
            "RPC round trip p95 per subject (caller)",
            "botcenter_rpc_client_seconds",
            "caller, subject",
            "{{caller}} → {{subject}}",
        ),
        Panel(
            "RPC failures per subject and code",
            [
                (
                    "sum by (subject, code) (rate(botcenter_rpc_server_seconds_count"
                    f'{{code!="ok"}}{RATE}))',
                    "{{subject}} {{code}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "RPCs in flight",
            [("sum by (service) (botcenter_rpc_in_flight)", "{{service}}")],
        ),
        Panel(
            "JetStream consumer lag (not yet delivered)",
            [
                (
                    "max by (stream_name, consumer_name) (nats_consumer_num_pending)",
                    "{{stream_name}}/{{consumer_name}}",
                )
            ],
            description="From prometheus-nats-exporter (-jsz=all).",
        ),
        Panel(
            "JetStream acks pending",
            [
                (
                    "max by (stream_name, consumer_name) (nats_consumer_num_ack_pending)",
                    "{{stream_name}}/{{consumer_name}}",
                )
            ],
        ),
        Panel(
            "Events published per domain",
            [
                (
                    f"sum by (domain) (rate(botcenter_events_published_total{RATE}))",
                    "{{domain}}",
                )
            ],
            unit="ops",
        ),
    ],
)

BOTS = Dashboard(
    uid="botcenter-bots",
    title="botcenter / bots",
    description="bot-service: the bots API and the fleet of Discord sessions.",
    panels=[
        Panel(
            "bot-service RPCs per subject",
            [
                (
                    "sum by (subject) (rate(botcenter_rpc_server_seconds_count"
                    f'{{service="bot"}}{RATE}))',
                    "{{subject}}",
                )
            ],
            unit="reqps",
        ),
        Panel(
            "bot-service RPC failures per code",
            [
                (
                    "sum by (code) (rate(botcenter_rpc_server_seconds_count"
                    f'{{service="bot", code!="ok"}}{RATE}))',
                    "{{code}}",
                )
            ],
            unit="reqps",
        ),
        stat("bot-service replicas ready", 'sum(botcenter_service_ready{service="bot"})', "ready"),
        Panel(
            "Bot events published",
            [
                (
                    "sum by (service) (rate(botcenter_events_published_total"
                    f'{{domain="bot"}}{RATE}))',
                    "{{service}}",
                )
            ],
            unit="ops",
        ),
        stat(
            "Units online",
            'sum(botcenter_bot_units{state="online"})',
            "online",
            6,
            description="Units = (bot, shard) sessions; a one-shard bot is one unit.",
        ),
        stat("Units in error", 'sum(botcenter_bot_units{state="error"})', "error", 6),
        stat(
            "Units in error, platform side",
            f'sum(botcenter_bot_units{{state="error", reason!~"{OWNER_REASONS}"}})',
            "error",
            6,
            description="Errors the owner cannot fix (crashed, IDENTIFY budget): alerted.",
        ),
        stat("Leases held", "sum(botcenter_bot_shards_owned)", "units", 6),
        Panel(
            "Units by state",
            [("sum by (state) (botcenter_bot_units)", "{{state}}")],
        ),
        Panel(
            "Units in error by reason",
            [('sum by (reason) (botcenter_bot_units{state="error"})', "{{reason}}")],
            description="invalid_token, disallowed_intents…: the owner is told in the "
            "console; crashed and identify_budget_exhausted are ours.",
        ),
        Panel(
            "Units not online by state and reason",
            [
                (
                    'sum by (state, reason) (botcenter_bot_units{state!="online", reason!=""})',
                    "{{state}} {{reason}}",
                )
            ],
            description="reconnecting/rate_limited, discord_unavailable, handoff, fenced…",
        ),
        Panel(
            "Shards per replica",
            [("sum by (instance) (botcenter_bot_shards_owned)", "{{instance}}")],
            description="Leases held per bot-service replica (rendezvous hashing spreads them).",
        ),
        Panel(
            "Gateway heartbeat latency",
            quantiles("botcenter_discord_heartbeat_seconds"),
            unit="s",
            description="HEARTBEAT → ACK round trip; a slow replica's event loop shows here too.",
        ),
        p95_panel(
            "Heartbeat latency p95 per replica", "botcenter_discord_heartbeat_seconds", "instance"
        ),
        Panel(
            "Gateway reconnects by kind",
            [
                (
                    f"sum by (kind) (rate(botcenter_discord_reconnects_total{RATE}))",
                    "{{kind}}",
                )
            ],
            unit="ops",
            description="resume and handoff_resume cost no IDENTIFY; reidentify and restart do.",
        ),
        Panel(
            "IDENTIFYs",
            [(f"sum(rate(botcenter_bot_identify_total{RATE}))", "identifies/s")],
            unit="ops",
            description="New sessions; Discord allows about 1,000 a day per bot.",
        ),
        Panel(
            "IDENTIFY slot wait",
            quantiles("botcenter_discord_identify_wait_seconds", (0.5, 0.95)),
            unit="s",
            description="Pacing: one IDENTIFY per 5 s per max_concurrency bucket of a bot.",
        ),
        Panel(
            "Discord 429s by scope",
            [
                (
                    f"sum by (scope) (rate(botcenter_discord_rate_limited_total{RATE}))",
                    "{{scope}}",
                )
            ],
            unit="ops",
            description="Which bot: its log (source discord.ratelimit, one line per shard "
            "per minute) and units in reconnecting/rate_limited.",
        ),
        Panel(
            "Leases lost (fencing) by cause",
            [
                (
                    f"sum by (cause) (increase(botcenter_bot_lease_lost_total{RATE}))",
                    "{{cause}}",
                )
            ],
            description="taken: another replica has the lease; renewal_failed: NATS did not "
            "answer for half the lease TTL.",
        ),
    ],
)

COMMANDS = Dashboard(
    uid="botcenter-commands",
    title="botcenter / commands",
    description="command-service: executions of commands when interactions arrive.",
    panels=[
        Panel(
            "Executions",
            [
                (
                    "sum(rate(botcenter_rpc_server_seconds_count"
                    f'{{subject="rpc.command.execute"}}{RATE}))',
                    "executions/s",
                )
            ],
            unit="ops",
        ),
        Panel(
            "Execution latency p50 / p95 / p99",
            [
                (
                    f"histogram_quantile({q}, sum by (le) (rate(botcenter_rpc_server_seconds_bucket"
                    f'{{subject="rpc.command.execute"}}{RATE})))',
                    f"p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ],
            unit="s",
        ),
        Panel(
            "Failures by cause",
            [
                (
                    "sum by (code) (rate(botcenter_rpc_server_seconds_count"
                    f'{{subject="rpc.command.execute", code!="ok"}}{RATE}))',
                    "{{code}}",
                )
            ],
            unit="ops",
            description="The RPC error code of failed executions (timeout, unavailable, ...).",
        ),
        Panel(
            "command-service RPCs per subject",
            [
                (
                    "sum by (subject) (rate(botcenter_rpc_server_seconds_count"
                    f'{{service="command"}}{RATE}))',
                    "{{subject}}",
                )
            ],
            unit="reqps",
        ),
    ],
)

LOGS = Dashboard(
    uid="botcenter-logs",
    title="botcenter / logs",
    description="log-service: ingestion from JetStream and the live websocket stream.",
    panels=[
        Panel(
            "Ingest rate",
            [
                (f"sum(rate(botcenter_log_ingested_total{RATE}))", "stored"),
                (f"sum(rate(botcenter_log_duplicates_total{RATE}))", "duplicates"),
            ],
            unit="ops",
        ),
        Panel(
            "Rejected events by reason",
            [(f"sum by (reason) (rate(botcenter_log_rejected_total{RATE}))", "{{reason}}")],
            unit="ops",
        ),
        Panel(
            "Ingest consumer lag",
            [
                (
                    "max by (consumer_name) "
                    '(nats_consumer_num_pending{consumer_name="log-ingest"})',
                    "{{consumer_name}}",
                )
            ],
        ),
        Panel(
            "Stream subscribers",
            [("sum(botcenter_log_stream_clients)", "clients")],
        ),
        Panel(
            "Events sent to stream clients",
            [(f"sum(rate(botcenter_log_stream_sent_total{RATE}))", "sent")],
            unit="ops",
        ),
        Panel(
            "Slow-client drops (closed 1013)",
            [(f"sum(increase(botcenter_log_stream_slow_closed_total{RATE}))", "closed")],
        ),
        stat("Daily partitions", "max(botcenter_log_partitions)", "partitions"),
    ],
)

DASHBOARDS = [PLATFORM, BOTS, COMMANDS, LOGS]


def _panel_json(panel: Panel, index: int, x: int, y: int) -> dict[str, object]:
    height = 5 if panel.kind == "stat" else 8
    return {
        "id": index,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
             "legendFormat": legend}
            for i, (expr, legend) in enumerate(panel.exprs)
        ],
    }


def render(dashboard: Dashboard) -> str:
    panels = []
    x = y = 0
    row_height = 0
    for index, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y = 0, y + row_height
            row_height = 0
        item = _panel_json(panel, index, x, y)
        panels.append(item)
        grid = item["gridPos"]
        assert isinstance(grid, dict)
        row_height = max(row_height, int(grid["h"]))
        x += panel.width
    doc = {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["botcenter"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def outputs() -> dict[Path, str]:
    return {OUT / f"{d.uid.removeprefix('botcenter-')}.json": render(d) for d in DASHBOARDS}


main = generator_command(
    outputs, doc=__doc__, regenerate=".venv/bin/python deploy/grafana/build.py"
)


if __name__ == "__main__":
    raise SystemExit(main())
