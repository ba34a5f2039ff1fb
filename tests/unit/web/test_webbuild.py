"""`make run` rebuilds the console only when its sources changed, and runs without Node."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.devstack import webbuild


@pytest.fixture
def web(tmp_path: Path) -> Path:
    w = tmp_path / "web"
    (w / "src").mkdir(parents=True)
    (w / "package.json").write_text("{}")
    (w / "src" / "main.tsx").write_text("x")
    (w / "node_modules" / "react").mkdir(parents=True)
    (w / "dist").mkdir()
    return w


def test_hash_follows_sources_not_outputs(web: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schema"
    schemas.mkdir()
    (schemas / "A.json").write_text("{}")
    first = webbuild.sources_hash(web, schemas)
    (web / "node_modules" / "react" / "index.js").write_text("y")
    (web / "dist" / "index.html").write_text("z")
    assert webbuild.sources_hash(web, schemas) == first
    (web / "src" / "main.tsx").write_text("changed")
    second = webbuild.sources_hash(web, schemas)
    assert second != first
    (schemas / "A.json").write_text('{"x": 1}')
    assert webbuild.sources_hash(web, schemas) != second


def test_without_node_the_api_runs_alone(web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbuild.shutil, "which", lambda _: None)
    said: list[str] = []
    assert webbuild.ensure_web_build(said.append, web=web) is False
    assert said == ["Node.js/npm not found: the web console is not built; the API runs alone"]


def test_current_build_is_not_rebuilt(web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbuild.shutil, "which", lambda name: f"/usr/bin/{name}")
    calls: list[list[str]] = []
    monkeypatch.setattr(webbuild, "_npm", lambda args, *_: calls.append(args) or True)
    (web / "dist" / "index.html").write_text("<div>")
    (web / "dist" / webbuild.STAMP).write_text(webbuild.sources_hash(web))
    said: list[str] = []
    assert webbuild.ensure_web_build(said.append, web=web) is True
    assert calls == []
    assert said == ["web console is up to date"]
    (web / "src" / "main.tsx").write_text("changed")
    (web / "package-lock.json").write_text("{}")
    assert webbuild.ensure_web_build(said.append, web=web) is True
    assert calls == [["ci", "--no-audit", "--no-fund"], ["run", "build"]]
    assert (web / "dist" / webbuild.STAMP).read_text() == webbuild.sources_hash(web)
    calls.clear()
    (web / "src" / "main.tsx").write_text("again")
    webbuild.ensure_web_build(said.append, web=web)
    assert calls == [["run", "build"]]  # same lock file: no new npm ci


def test_failed_build_is_reported(web: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbuild.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(webbuild, "_npm", lambda args, *_: args[0] == "ci")
    said: list[str] = []
    assert webbuild.ensure_web_build(said.append, Path("/tmp/w.log"), web=web) is False
    assert said[-1] == "the web console's build failed (see /tmp/w.log); the API runs alone"
