"""Which audit action each state-changing route records (#17, teams.md §6.2), and the check
that it did.

The table is the one place that says it; `annotate` puts each entry on its route as the
OpenAPI extension `x-audit` (an action of `proto.audit.ACTIONS`, or `none` for a route that
changes nothing: a preview, a test, a stream ticket). The gateway writes no record itself
(it cannot see old values nor commit with the change): the service does, and its reply says
so in `bc-audit`. A 2xx answer to an audited route whose calls came back without one
increments `gateway_audit_missing_total{route}` and logs an error.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from fastapi import FastAPI
from prometheus_client import Counter

log = logging.getLogger(__name__)

X_AUDIT: Final = "x-audit"
NONE: Final = "none"

AUDIT_MISSING = Counter(
    "gateway_audit_missing_total",
    "Successful state-changing requests whose service wrote no audit record.",
    ["route"],
)

# (method, path template) -> the action recorded, or NONE (the comment says why).
ROUTE_ACTIONS: Final[dict[tuple[str, str], str]] = {
    # rotating a refresh token is session upkeep; its reuse is the security event
    # (auth.refresh_reuse, written by auth-service)
    ("POST", "/v1/auth/refresh"): NONE,
    ("POST", "/v1/auth/logout"): "auth.sign_out",
    ("POST", "/v1/auth/logout-all"): "auth.sign_out_all",
    ("PATCH", "/v1/me"): "account.update",
    ("DELETE", "/v1/me"): "account.delete",
    ("PUT", "/v1/me/settings"): "account.settings_update",
    ("POST", "/v1/me/tokens"): "token.create",
    ("DELETE", "/v1/me/tokens/{token_id}"): "token.revoke",
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
    ("POST", "/v1/bots"): "bot.create",
    ("PATCH", "/v1/bots/{bot_id}"): "bot.update",
    ("DELETE", "/v1/bots/{bot_id}"): "bot.delete",
    ("PUT", "/v1/bots/{bot_id}/token"): "bot.token_replace",
    ("POST", "/v1/bots/{bot_id}/start"): "bot.start",
    ("POST", "/v1/bots/{bot_id}/stop"): "bot.stop",
    ("POST", "/v1/bots/{bot_id}/restart"): "bot.restart",
    ("POST", "/v1/bots/{bot_id}/avatar"): "bot.avatar_apply",
    # a try-it invocation in the sandbox: nothing of the workspace changes
    ("POST", "/v1/bots/{bot_id}/try"): NONE,
    ("POST", "/v1/bots/{bot_id}/commands"): "command.create",
    # renders a draft, stores nothing
    ("POST", "/v1/bots/{bot_id}/commands/preview"): NONE,
    ("POST", "/v1/bots/{bot_id}/commands/sync"): "command.sync",
    ("PUT", "/v1/bots/{bot_id}/commands/settings"): "command.settings_update",
    ("PATCH", "/v1/bots/{bot_id}/commands/{command_id}"): "command.update",
    ("DELETE", "/v1/bots/{bot_id}/commands/{command_id}"): "command.delete",
    # runs a stored command against sample input, stores nothing
    ("POST", "/v1/bots/{bot_id}/commands/{command_id}/test"): NONE,
    ("POST", "/v1/bots/{bot_id}/import"): "command.import",
    ("POST", "/v1/bots/{bot_id}/automations"): "automation.create",
    ("PATCH", "/v1/bots/{bot_id}/automations/{automation_id}"): "automation.update",
    ("DELETE", "/v1/bots/{bot_id}/automations/{automation_id}"): "automation.delete",
    ("PUT", "/v1/bots/{bot_id}/variables/{guild_id}/{key}"): "variable.put",
    ("DELETE", "/v1/bots/{bot_id}/variables/{guild_id}/{key}"): "variable.delete",
    ("PUT", "/v1/bots/{bot_id}/variables/{guild_id}/users/{user_id}/{key}"): "member_variable.put",
    ("DELETE", "/v1/bots/{bot_id}/variables/{guild_id}/users/{user_id}/{key}"): (
        "member_variable.delete"
    ),
    ("POST", "/v1/prompts"): "prompt.create",
    ("PATCH", "/v1/prompts/{prompt_id}"): "prompt.update",
    ("DELETE", "/v1/prompts/{prompt_id}"): "prompt.delete",
    ("POST", "/v1/connections"): "connection.create",
    ("PATCH", "/v1/connections/{connection_id}"): "connection.update",
    ("DELETE", "/v1/connections/{connection_id}"): "connection.delete",
    # calls the connection's endpoint once, stores nothing
    ("POST", "/v1/connections/{connection_id}/test"): NONE,
    ("POST", "/v1/files"): "file.upload",
    ("DELETE", "/v1/files/{file_id}"): "file.delete",
    # a short-lived ticket to open the live stream
    ("POST", "/v1/stream/ticket"): NONE,
}

# Methods that change nothing: no record expected, no client address sent along.
READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def annotate(app: FastAPI) -> None:
    """Put each route's action into the OpenAPI document as `x-audit`; a state-changing route
    missing from the table fails the document (and the contract test), not silently."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method.upper() in READS:
                    continue
                action = ROUTE_ACTIONS.get((method.upper(), path))
                if action is None:
                    raise LookupError(f"{method.upper()} {path} names no audit action")
                operation[X_AUDIT] = action
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def check_recorded(route: str, method: str, status: int, audit_ids: Sequence[object]) -> None:
    """Count a 2xx answer of an audited route whose calls brought back no `bc-audit`."""
    if not 200 <= status < 300 or audit_ids or method in READS:
        return
    action = ROUTE_ACTIONS.get((method, route))
    if action is None or action == NONE:
        return
    AUDIT_MISSING.labels(route).inc()
    log.error("no audit record for a change", extra={"route": route, "action": action})
