"""The contracts: generated documents match the code; the registry is consistent."""

from __future__ import annotations

from proto import REGISTRY
from proto.export import drift
from proto.registry import SERVICES
from services.natsconf import service_permissions


def test_generated_schema_and_asyncapi_match_the_code() -> None:
    stale = drift()
    assert not stale, f"generated contract files are out of date, run `make schema`: {stale}"


def test_every_rpc_is_served_by_a_known_service_and_called_by_known_ones() -> None:
    for spec in REGISTRY.rpcs.values():
        assert spec.service in SERVICES, spec.subject
        assert spec.callers <= set(SERVICES), spec.subject
        assert spec.service not in spec.callers or spec.service == "gateway", spec.subject


def test_permissions_let_callers_publish_and_nobody_else() -> None:
    for spec in REGISTRY.rpcs.values():
        for service in SERVICES:
            allowed = service_permissions(REGISTRY, service)["publish"]["allow"]  # type: ignore[index]
            assert (spec.subject in allowed) == (service in spec.callers), (service, spec.subject)
