"""All subjects of the product, assembled from the per-domain contract modules."""

from __future__ import annotations

from proto import (
    audit,
    auth,
    automations,
    bots,
    commands,
    fleet,
    logs,
    storage,
    system,
    workspaces,
)
from proto.registry import Registry

REGISTRY = (
    Registry()
    .add(system.SPECS_ALL)
    .add(auth.SPECS)
    .add(bots.SPECS)
    .add(fleet.SPECS)
    .add(commands.SPECS)
    .add(storage.SPECS)
    .add(logs.SPECS)
    .add(workspaces.SPECS)
    .add(audit.SPECS)
    .add(automations.SPECS)
)
