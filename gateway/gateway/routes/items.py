"""Routes registered from a table rather than written out one by one.

The five routes of a catalogue of named items (prompts, API connections): list, add, read,
change and remove, over the five RPCs command-service answers for it (its `ItemHandlers`).
The catalogues differ only in names and contracts, which `ItemApi` holds.

A route whose only input is its path's one parameter (`add_ref_route`): a bot's views, its
desired-state changes, a sync, an invitation's preview and acceptance."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response, status

from gateway.auth import CurrentUser
from gateway.deps import Bus
from proto.base import Contract, Empty
from proto.registry import RpcSpec

F = TypeVar("F", bound=Callable[..., Any])
# The `?workspace_id=` of every list route.
WorkspaceFilter = Annotated[
    UUID | None, Query(description="only this workspace's (404 if not a member)")
]


@dataclass(frozen=True)
class ItemApi:
    """One catalogue: `/v1/<plural>` and `/v1/<plural>/{<singular>_id}`."""

    singular: str  # "prompt": route names (`create_prompt`) and the id (`prompt_id`)
    plural: str  # "prompts": the path and the list route's name
    # Its request's fields are all optional (command-service's `WorkspaceFilter`).
    list: RpcSpec[Any, Any]
    create: RpcSpec[Any, Any]
    get: RpcSpec[Any, Any]
    update: RpcSpec[Any, Any]
    delete: RpcSpec[Any, Empty]
    patch: type[Contract]  # the change body
    ref: type[Contract]  # {<singular>_id}
    change: type[Contract]  # {<singular>_id, patch}
    # Summaries of the list, add, read, change and remove routes.
    summaries: tuple[str, str, str, str, str]

    @property
    def id_name(self) -> str:
        return f"{self.singular}_id"


def typed(**annotations: Any) -> Callable[[F], F]:
    """Give an endpoint these parameter types, which FastAPI reads to validate and document
    (they are per catalogue, so the signature cannot spell them)."""

    def apply(endpoint: F) -> F:
        endpoint.__annotations__.update(annotations)
        return endpoint

    return apply


def add_item_routes(router: APIRouter, api: ItemApi) -> None:
    """Register the catalogue's routes on `router`."""
    path = f"/v1/{api.plural}"
    one = f"{path}/{{{api.id_name}}}"
    item_id = Annotated[UUID, Path(alias=api.id_name)]
    out = api.create.reply
    listed, added, read, changed, removed = api.summaries

    @router.get(path, response_model=api.list.reply, summary=listed, name=f"list_{api.plural}")
    async def list_items(
        bus: Bus,
        user: CurrentUser,
        workspace_id: WorkspaceFilter = None,
    ) -> Any:
        req = api.list.request(workspace_id=workspace_id)
        return await bus.call(api.list, req, user_id=user.user_id)

    @router.post(
        path,
        response_model=out,
        status_code=status.HTTP_201_CREATED,
        summary=added,
        name=f"create_{api.singular}",
    )
    @typed(body=api.create.request)
    async def create_item(body: Contract, bus: Bus, user: CurrentUser) -> Any:
        return await bus.call(api.create, body, user_id=user.user_id)

    @router.get(one, response_model=out, summary=read, name=f"get_{api.singular}")
    @typed(item=item_id)
    async def get_item(item: UUID, bus: Bus, user: CurrentUser) -> Any:
        return await bus.call(api.get, api.ref(**{api.id_name: item}), user_id=user.user_id)

    @router.patch(one, response_model=out, summary=changed, name=f"patch_{api.singular}")
    @typed(item=item_id, body=api.patch)
    async def patch_item(item: UUID, body: Contract, bus: Bus, user: CurrentUser) -> Any:
        change = api.change(**{api.id_name: item, "patch": body})
        return await bus.call(api.update, change, user_id=user.user_id)

    @router.delete(
        one,
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        summary=removed,
        name=f"delete_{api.singular}",
    )
    @typed(item=item_id)
    async def delete_item(item: UUID, bus: Bus, user: CurrentUser) -> Response:
        await bus.call(api.delete, api.ref(**{api.id_name: item}), user_id=user.user_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)


def add_ref_route(
    router: APIRouter,
    method: str,
    path: str,
    spec: RpcSpec[Any, Any],
    *,
    name: str,
    ref: Callable[..., Contract],
    key: str = "bot_id",
    key_type: Any = UUID,
    key_rules: Mapping[str, Any] | None = None,
    timeout_s: float | None = None,
    **route: Any,
) -> None:
    """Register `method path`, whose one parameter `{key}` (a KEY_TYPE, checked by
    KEY_RULES, `Path`'s constraints) is its only input: it answers `spec` called with
    `ref(<key>=…)`. `route` is what `router.get(...)` and the like take."""

    @typed(value=Annotated[key_type, Path(alias=key, **(key_rules or {}))])
    async def endpoint(value: Any, bus: Bus, user: CurrentUser) -> Any:
        request = ref(**{key: value})
        return await bus.call(spec, request, user_id=user.user_id, timeout_s=timeout_s)

    router.add_api_route(path, endpoint, methods=[method], name=name, **route)
