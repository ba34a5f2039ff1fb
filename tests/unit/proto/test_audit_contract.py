"""The audit contract of teams (#17): action names are `<type>.<verb>`, unique, and cover
every state-changing route of the gateway; records and queries use the issue's field names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from gateway.app import ROUTE_MODULES
from gateway.audit import ROUTE_ACTIONS, annotate
from proto import audit as AU

# The routes the issue adds (their actions are gateway/audit.py's table).
NEW_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v1/workspaces"),
    ("PATCH", "/v1/workspaces/{workspace_id}"),
    ("DELETE", "/v1/workspaces/{workspace_id}"),
    ("POST", "/v1/workspaces/{workspace_id}/transfer"),
    ("PATCH", "/v1/workspaces/{workspace_id}/members/{user_id}"),
    ("DELETE", "/v1/workspaces/{workspace_id}/members/{user_id}"),
    ("POST", "/v1/workspaces/{workspace_id}/leave"),
    ("POST", "/v1/workspaces/{workspace_id}/roles"),
    ("PATCH", "/v1/workspaces/{workspace_id}/roles/{role_id}"),
    ("DELETE", "/v1/workspaces/{workspace_id}/roles/{role_id}"),
    ("POST", "/v1/workspaces/{workspace_id}/invitations"),
    ("DELETE", "/v1/workspaces/{workspace_id}/invitations/{invitation_id}"),
    ("POST", "/v1/invitations/{token}/accept"),
})


def _route_actions() -> dict[tuple[str, str], str]:
    """Every state-changing route of the gateway with its `x-audit` (gateway/audit.py's table,
    in the OpenAPI document): an action, or `none` with the reason in that table."""
    app = FastAPI()
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    annotate(app)
    return {
        (method.upper(), path): operation["x-audit"]
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if method not in ("get", "head", "options")
    }


def test_action_names_are_type_dot_verb_and_unique() -> None:
    assert len(AU.ACTIONS) >= 40
    for name, meaning in AU.ACTIONS.items():
        assert AU.ACTION_PATTERN.fullmatch(name), name
        assert meaning.strip(), name
    # unique even ignoring case and separators (no `bot.start` beside `bot.Start`/`bot-start`)
    folded = [name.lower().replace("_", "") for name in AU.ACTIONS]
    assert len(folded) == len(set(folded))
    # the ones the issue names
    assert {"bot.create", "bot.start", "bot.stop", "bot.update", "command.create",
            "member.invite", "member.join", "member.remove", "auth.sign_in"} <= set(AU.ACTIONS)
    # and the security events it lists
    assert {"auth.sign_out", "token.create", "token.revoke", "auth.refresh_reuse",
            "bot.token_replace", "connection.secret_set", "invitation.revoke"} <= set(AU.ACTIONS)


def test_every_state_changing_gateway_route_names_an_action_or_why_not() -> None:
    actions = _route_actions()
    assert set(actions) == set(ROUTE_ACTIONS)  # no entry for a route that is gone
    # the routes the issue adds, each recording its change
    assert set(actions) >= NEW_ROUTES
    assert all(actions[k] != "none" for k in NEW_ROUTES)
    named = [a for a in actions.values() if a != "none"]
    assert set(named) - set(AU.ACTIONS) == set()
    # one route, one action: the trail says which request it was
    assert len(named) == len(set(named))


def test_a_record_has_the_issues_fields_and_refuses_unknown_actions() -> None:
    assert list(AU.AuditRecord.model_fields) == [
        "id", "at", "actor_user_id", "actor_token_id", "workspace_id", "action",
        "target_type", "target_id", "changes", "ip", "user_agent", "request_id",
    ]
    record = AU.AuditRecord(
        id=uuid.uuid4(), at=datetime.now(UTC), workspace_id=uuid.uuid4(), action="bot.start",
        target_type="bot", target_id=str(uuid.uuid4()), changes={"token": {"changed": True}},
    )
    assert AU.AuditRecord.model_validate_json(record.model_dump_json()) == record
    with pytest.raises(ValidationError, match="unknown audit action"):
        AU.AuditRecord.model_validate({**record.model_dump(), "action": "bot.fly"})
    with pytest.raises(ValidationError, match="unknown target type"):
        AU.AuditRecord.model_validate({**record.model_dump(), "target_type": "planet"})
    schema = AU.AuditRecord.model_json_schema()
    assert "bot.start" in str(schema["properties"]["action"])


def test_the_list_and_export_queries_use_the_issues_names() -> None:
    issue_query = ["actor", "action", "target_type", "target_id", "since", "until", "cursor",
                   "limit"]
    assert set(issue_query) <= set(AU.AuditQuery.model_fields)
    assert set(AU.AuditExportQuery.model_fields) == {*issue_query[:6], "format"}
    assert list(AU.AuditPage.model_fields)[:2] == ["items", "next_cursor"]
    assert AU.AuditQuery(workspace_id=uuid.uuid4()).limit == AU.AUDIT_PAGE_DEFAULT == 50
    with pytest.raises(ValidationError):
        AU.AuditQuery(workspace_id=uuid.uuid4(), limit=0)
    with pytest.raises(ValidationError):
        AU.AuditExportQuery(format="xml")  # type: ignore[arg-type]
    assert AU.AUDIT_RETENTION_DAYS_DEFAULT == 365
