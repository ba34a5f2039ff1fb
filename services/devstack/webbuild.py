"""Build the web console (`web/` → `web/dist`) for `make run` when its sources changed.

The sources' hash (every file under `web/` except `node_modules/` and `dist/`, plus the
contract schemas in `proto/schema/` the console's types are generated from) is compared
with the stamp left in `web/dist` by the last build; only a difference rebuilds, with
`npm ci` first when `package-lock.json` changed. Without Node.js/npm, or when the build
fails, the API runs alone and the gateway's `/` says so. `BOTCENTER_WEB_BUILD=0` skips it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STAMP = ".botcenter-build"
LOCK_STAMP = ".botcenter-lock"
SKIP_DIRS = frozenset({"node_modules", "dist", ".vite", "coverage"})
NPM_TIMEOUT_S = 600.0


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.iterdir()):
        if path.is_dir():
            if path.name not in SKIP_DIRS and not path.name.startswith("."):
                yield from _files(path)
        elif path.is_file():
            yield path


def sources_hash(web: Path = WEB, schemas: Path = ROOT / "proto" / "schema") -> str:
    """One hash over the console's sources and the schemas its types come from."""
    h = hashlib.sha256()
    for base in (web, schemas):
        if not base.is_dir():
            continue
        for path in _files(base):
            h.update(str(path.relative_to(base.parent)).encode())
            h.update(b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _lock_hash(web: Path) -> str:
    lock = web / "package-lock.json"
    return hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else ""


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _npm(args: list[str], web: Path, log_path: Path | None) -> bool:
    npm = shutil.which("npm")
    assert npm is not None
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("a") if log_path else None
    try:
        done = subprocess.run(  # fixed arguments, no shell
            [npm, *args],
            cwd=web,
            stdout=log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            timeout=NPM_TIMEOUT_S,
            check=False,
            env={**os.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_fund": "false"},
        )
    except subprocess.TimeoutExpired:
        return False
    finally:
        if log:
            log.close()
    return done.returncode == 0


def ensure_web_build(
    progress: Callable[[str], None] = print,
    log_path: Path | None = None,
    web: Path = WEB,
) -> bool:
    """Build the console if needed; True when `web/dist` is current. Never raises."""
    if os.environ.get("BOTCENTER_WEB_BUILD", "1") == "0" or not (web / "package.json").is_file():
        return False
    if shutil.which("node") is None or shutil.which("npm") is None:
        progress("Node.js/npm not found: the web console is not built; the API runs alone")
        return False
    wanted = sources_hash(web)
    dist = web / "dist"
    if _read(dist / STAMP) == wanted and (dist / "index.html").is_file():
        progress("web console is up to date")
        return True
    where = f" (see {log_path})" if log_path else ""
    lock = _lock_hash(web)
    modules = web / "node_modules"
    if not modules.is_dir() or _read(modules / LOCK_STAMP) != lock:
        progress("installing the web console's packages (npm ci)")
        if not _npm(["ci", "--no-audit", "--no-fund"], web, log_path):
            progress(f"npm ci failed{where}; the API runs alone")
            return False
        (modules / LOCK_STAMP).write_text(lock)
    progress("building the web console (npm run build)")
    if not _npm(["run", "build"], web, log_path):
        progress(f"the web console's build failed{where}; the API runs alone")
        return False
    # The build regenerates src/api/schema.gen.ts: hash again so the stamp matches it.
    (dist / STAMP).write_text(sources_hash(web))
    return True
