"""The audit contract of teams (#17): action names are `<type>.<verb>`, unique, and cover
every state-changing route of the gateway; records and queries use the issue's field names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from gateway.routes import auth, bots, commands, files, logs, status
from proto import audit as AU

# The audit action of every state-changing route the gateway has today, or None with why it
# writes no record. Slice G moves this onto the routes (`openapi_extra={"x-audit": …}`).
ROUTE_ACTIONS: dict[tuple[str, str], str | None] = {
    # rotating a refresh token is session upkeep; its reuse is the security event
    # (auth.refresh_reuse, written by auth-service)
    ("POST", "/v1/auth/refresh"): None,
    ("POST", "/v1/auth/logout"): "auth.sign_out",
    ("POST", "/v1/auth/logout-all"): "auth.sign_out_all",
    ("PATCH", "/v1/me"): "account.update",
    ("DELETE", "/v1/me"): "account.delete",
    ("PUT", "/v1/me/settings"): "account.settings_update",
    ("POST", "/v1/me/tokens"): "token.create",
    ("DELETE", "/v1/me/tokens/{token_id}"): "token.revoke",
    ("POST", "/v1/bots"): "bot.create",
    ("PATCH", "/v1/bots/{bot_id}"): "bot.update",
    ("DELETE", "/v1/bots/{bot_id}"): "bot.delete",
    ("PUT", "/v1/bots/{bot_id}/token"): "bot.token_replace",
    ("POST", "/v1/bots/{bot_id}/start"): "bot.start",
    ("POST", "/v1/bots/{bot_id}/stop"): "bot.stop",
    ("POST", "/v1/bots/{bot_id}/restart"): "bot.restart",
    ("POST", "/v1/bots/{bot_id}/avatar"): "bot.avatar_apply",
    # a try-it invocation in the sandbox: nothing of the workspace changes
    ("POST", "/v1/bots/{bot_id}/try"): None,
    ("POST", "/v1/bots/{bot_id}/commands"): "command.create",
    # renders a draft, stores nothing
    ("POST", "/v1/bots/{bot_id}/commands/preview"): None,
    ("POST", "/v1/bots/{bot_id}/commands/sync"): "command.sync",
    ("PUT", "/v1/bots/{bot_id}/commands/settings"): "command.settings_update",
    ("PATCH", "/v1/bots/{bot_id}/commands/{command_id}"): "command.update",
    ("DELETE", "/v1/bots/{bot_id}/commands/{command_id}"): "command.delete",
    # runs a stored command against sample input, stores nothing
    ("POST", "/v1/bots/{bot_id}/commands/{command_id}/test"): None,
    ("POST", "/v1/bots/{bot_id}/import"): "command.import",
    ("POST", "/v1/prompts"): "prompt.create",
    ("PATCH", "/v1/prompts/{prompt_id}"): "prompt.update",
    ("DELETE", "/v1/prompts/{prompt_id}"): "prompt.delete",
    ("POST", "/v1/connections"): "connection.create",
    ("PATCH", "/v1/connections/{connection_id}"): "connection.update",
    ("DELETE", "/v1/connections/{connection_id}"): "connection.delete",
    # calls the connection's endpoint once, stores nothing
    ("POST", "/v1/connections/{connection_id}/test"): None,
    ("POST", "/v1/files"): "file.upload",
    ("DELETE", "/v1/files/{file_id}"): "file.delete",
    # a short-lived ticket to open the live stream
    ("POST", "/v1/stream/ticket"): None,
}

# The routes the issue adds (slice G builds them) and what each records.
NEW_ROUTE_ACTIONS: dict[tuple[str, str], str] = {
    ("POST", "/v1/workspaces"): "workspace.create",
    ("PATCH", "/v1/workspaces/{workspace_id}"): "workspace.update",
    ("DELETE", "/v1/workspaces/{workspace_id}"): "workspace.delete",
    ("POST", "/v1/workspaces/{workspace_id}/transfer"): "workspace.transfer",
    ("PATCH", "/v1/workspaces/{workspace_id}/members/{user_id}"): "member.update",
    ("DELETE", "/v1/workspaces/{workspace_id}/members/{user_id}"): "member.remove",
    ("POST", "/v1/workspaces/{workspace_id}/leave"): "member.leave",
    ("POST", "/v1/workspaces/{workspace_id}/roles"): "role.create",
    ("PATCH", "/v1/workspaces/{workspace_id}/roles/{role_id}"): "role.update",
    ("DELETE", "/v1/workspaces/{workspace_id}/roles/{role_id}"): "role.delete",
    ("POST", "/v1/workspaces/{workspace_id}/invitations"): "member.invite",
    ("DELETE", "/v1/workspaces/{workspace_id}/invitations/{invitation_id}"): "invitation.revoke",
    ("POST", "/v1/invitations/{token}/accept"): "member.join",
}


def _state_changing_routes() -> set[tuple[str, str]]:
    app = FastAPI()
    for module in (status, auth, bots, commands, files, logs):
        app.include_router(module.router)
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
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
    assert _state_changing_routes() == set(ROUTE_ACTIONS)
    named = [a for a in [*ROUTE_ACTIONS.values(), *NEW_ROUTE_ACTIONS.values()] if a is not None]
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
