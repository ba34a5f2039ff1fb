"""The services installed in this environment, and what is done to all of them at once.

Found through the `botcenter.services` entry points, so the kernel never imports a service.
On the runtime side (not `devstack`) because production runs it too: `botcenter service`,
`botcenter migrate` and `botcenter keys rotate` in the images.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from proto.registry import SERVICES
from services.db.bootstrap import bootstrap
from services.db.migrate import upgrade
from services.runtime import ServiceDefinition

Progress = Callable[[str], None]


def service_definitions() -> dict[str, ServiceDefinition]:
    """Every installed service, in the order of `proto.registry.SERVICES`."""
    found: dict[str, ServiceDefinition] = {}
    for ep in entry_points(group="botcenter.services"):
        definition = ep.load()
        found[definition.name] = definition
    return dict(sorted(found.items(), key=lambda kv: _order(kv[0])))


def _order(name: str) -> int:
    order = [*SERVICES]
    return order.index(name) if name in order else len(order)


async def migrate_all(admin_url: str, role_password: str, progress: Progress = print) -> None:
    defs = service_definitions()
    await bootstrap(admin_url, [n for n, d in defs.items() if d.migrations], role_password)
    for name, definition in defs.items():
        if definition.migrations is not None:
            progress(f"  migrating {name}")
            await upgrade(admin_url, name, definition.migrations)
