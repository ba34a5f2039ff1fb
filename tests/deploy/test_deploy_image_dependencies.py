"""A service image installs only `botcenter` (kernel + contracts) and that service's own
package, so every third-party module a service imports must be reachable from the
dependencies its pyproject declares (or the kernel's). Otherwise `make run` works (the
workspace installs everything) and the container dies on its first import."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
# folder -> (import package, distribution name)
PACKAGES = {
    "gateway": ("gateway", "botcenter-gateway"),
    "auth-service": ("auth_service", "botcenter-auth-service"),
    "bot-service": ("bot_service", "botcenter-bot-service"),
    "command-service": ("command_service", "botcenter-command-service"),
    "storage-service": ("storage_service", "botcenter-storage-service"),
    "log-service": ("log_service", "botcenter-log-service"),
}
FIRST_PARTY = {"proto", "services", *(pkg for pkg, _ in PACKAGES.values())}

# Imports whose distribution a service's pyproject does not declare yet (reported to the
# service's owner; the image of that service would fail on import). Remove an entry once
# the pyproject lists the distribution, so the test keeps it from coming back.
PENDING: dict[str, set[str]] = {}


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def closure(dist: str) -> set[str]:
    """Every distribution installed along with `dist` (extras followed)."""
    seen: set[str] = set()
    stack: list[tuple[str, tuple[str, ...]]] = [(dist, ())]
    while stack:
        name, extras = stack.pop()
        if _norm(name) in seen:
            continue
        seen.add(_norm(name))
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": e}) for e in (extras or ("",))
            ):
                continue
            stack.append((req.name, tuple(req.extras)))
    return seen


def imported_distributions(folder: str, package: str) -> dict[str, str]:
    """distribution -> one file importing it, for the service's third-party imports."""
    owners = packages_distributions()
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(_norm(dist), str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_service_imports_are_declared(folder: str) -> None:
    package, dist = PACKAGES[folder]
    allowed = closure(dist)
    assert "botcenter" in allowed, f"{dist} must depend on botcenter"
    undeclared = {
        d: where for d, where in imported_distributions(folder, package).items()
        if d not in allowed
    }
    pending = {_norm(d) for d in PENDING.get(folder, set())}
    new = {d: where for d, where in undeclared.items() if d not in pending}
    assert not new, (
        f"{folder}/pyproject.toml must list what its code imports "
        f"(the container installs nothing else): {new}"
    )
