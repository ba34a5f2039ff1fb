"""All subjects of the product, assembled from the per-domain contract modules."""

from __future__ import annotations

from proto import system
from proto.registry import Registry

REGISTRY = Registry().add(system.SPECS)
