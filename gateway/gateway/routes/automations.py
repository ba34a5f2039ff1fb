"""Automations, their runs and per-server variables of a bot (#18): each route builds the
request from its path, query and body and calls command-service, which checks the caller's
permissions (`bots.view` to read, `automations.edit` to change) and answers 404 for a bot
the caller cannot see. A request the contract refuses is a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.routes.items import typed
from proto import automations as A
from proto.base import Contract

router = APIRouter(tags=["automations"])

AUTOMATIONS = "/v1/bots/{bot_id}/automations"
ONE = AUTOMATIONS + "/{automation_id}"
VARIABLES = "/v1/bots/{bot_id}/variables"
SERVER_VARIABLE = VARIABLES + "/{guild_id}/{key}"
MEMBER_VARIABLE = VARIABLES + "/{guild_id}/users/{user_id}/{key}"
NO_CONTENT: dict[str, Any] = {
    "status_code": status.HTTP_204_NO_CONTENT,
    "response_class": Response,
}


@router.get(AUTOMATIONS, response_model=A.AutomationList, summary="a bot's automations")
async def list_automations(bot_id: UUID, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        A.AUTOMATION_LIST, A.BotAutomationRef(bot_id=bot_id), user_id=user.user_id
    )


@router.post(
    AUTOMATIONS,
    response_model=A.AutomationOut,
    status_code=status.HTTP_201_CREATED,
    summary="add an automation (automations.edit)",
)
async def create_automation(bot_id: UUID, body: A.AutomationIn, bus: Bus, user: CurrentUser) -> Any:
    req = A.CreateAutomation(bot_id=bot_id, automation=body)
    return await bus.call(A.AUTOMATION_CREATE, req, user_id=user.user_id)


@router.get(ONE, response_model=A.AutomationOut, summary="one automation, with its next fire times")
async def get_automation(bot_id: UUID, automation_id: UUID, bus: Bus, user: CurrentUser) -> Any:
    req = A.AutomationRef(bot_id=bot_id, automation_id=automation_id)
    return await bus.call(A.AUTOMATION_GET, req, user_id=user.user_id)


@router.patch(
    ONE, response_model=A.AutomationOut, summary="change an automation (automations.edit)"
)
async def patch_automation(
    bot_id: UUID, automation_id: UUID, body: A.AutomationPatch, bus: Bus, user: CurrentUser
) -> Any:
    req = A.UpdateAutomation(bot_id=bot_id, automation_id=automation_id, patch=body)
    return await bus.call(A.AUTOMATION_UPDATE, req, user_id=user.user_id)


@router.delete(ONE, summary="remove an automation (automations.edit)", **NO_CONTENT)
async def delete_automation(
    bot_id: UUID, automation_id: UUID, bus: Bus, user: CurrentUser
) -> Response:
    req = A.AutomationRef(bot_id=bot_id, automation_id=automation_id)
    await bus.call(A.AUTOMATION_DELETE, req, user_id=user.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    ONE + "/runs", response_model=A.RunPage, summary="recent runs of an automation, newest first"
)
async def automation_runs(
    bot_id: UUID,
    automation_id: UUID,
    bus: Bus,
    user: CurrentUser,
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    req = A.RunsQuery(bot_id=bot_id, automation_id=automation_id, cursor=cursor, limit=limit)
    return await bus.call(A.AUTOMATION_RUNS, req, user_id=user.user_id)


# ---- variables ------------------------------------------------------------------------------


@router.get(
    VARIABLES,
    response_model=A.VariableList,
    summary="a bot's variables, by server, member and key prefix",
)
async def list_variables(
    bot_id: UUID,
    bus: Bus,
    user: CurrentUser,
    guild_id: str | None = None,
    user_id: str | None = None,
    prefix: str | None = None,
) -> Any:
    req = A.VariablesQuery(bot_id=bot_id, guild_id=guild_id, user_id=user_id, prefix=prefix)
    return await bus.call(A.VARIABLE_LIST, req, user_id=user.user_id)


class VariablePath(Contract):
    """The variable a path names: a server's (`…/{guild_id}/{key}`) or a member's
    (`…/{guild_id}/users/{user_id}/{key}`)."""

    bot_id: UUID
    guild_id: str
    user_id: str | None = None
    key: str


def _server(bot_id: UUID, guild_id: str, key: str) -> VariablePath:
    return VariablePath(bot_id=bot_id, guild_id=guild_id, key=key)


def _member(bot_id: UUID, guild_id: str, user_id: str, key: str) -> VariablePath:
    return VariablePath(bot_id=bot_id, guild_id=guild_id, user_id=user_id, key=key)


def add_variable_routes(path: str, of: Callable[..., VariablePath], kind: str) -> None:
    """PUT and DELETE of one kind of variable; `of` reads the path (the contract checks the
    ids and the key: a 422 naming the field)."""
    # Per kind, so the signatures cannot spell it (`typed`).
    at_path = typed(at=Annotated[VariablePath, Depends(of)])

    @router.put(
        path,
        response_model=A.VariableOut,
        summary=f"set a {kind}'s variable (automations.edit)",
        name=f"put_{kind}_variable",
    )
    @at_path
    async def put_variable(
        at: VariablePath, body: A.VariablePut, bus: Bus, user: CurrentUser
    ) -> Any:
        req = A.PutVariable(**at.model_dump(), variable=body)
        return await bus.call(A.VARIABLE_PUT, req, user_id=user.user_id)

    @router.delete(
        path,
        summary=f"delete a {kind}'s variable (automations.edit)",
        name=f"delete_{kind}_variable",
        **NO_CONTENT,
    )
    @at_path
    async def delete_variable(at: VariablePath, bus: Bus, user: CurrentUser) -> Response:
        await bus.call(A.VARIABLE_DELETE, A.VariableRef(**at.model_dump()), user_id=user.user_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)


add_variable_routes(SERVER_VARIABLE, _server, "server")
add_variable_routes(MEMBER_VARIABLE, _member, "member")
