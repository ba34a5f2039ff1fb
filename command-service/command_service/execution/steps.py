"""The step engine (#18): runs an ordered list of steps (an automation's actions, or a
command's) with one context, rendering each step's templates just before it runs.

What the steps do to the world goes through `Effects` (Discord through bot-service, HTTP,
AI, variables); the engine only decides what to do and in which order. A dry run is the
same engine with effects that do nothing but say what they would do.

Resuming after a crash: every finished step's output is recorded by the caller
(`on_step`), keyed by the step's path; a run started again with those outputs skips the
finished steps (their outputs are restored for `steps.<name>`) and takes the branch a
condition took the first time (a condition on `now` or `random` could otherwise go the
other way), so nothing is done twice.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from command_service.execution.templates import Renderer, RenderError
from proto.automations import (
    DISCORD_STEPS,
    MAX_DISCORD_CALLS,
    ActResult,
    AiStep,
    ConditionStep,
    DeleteVariableStep,
    HttpStep,
    IncrementVariableStep,
    SetVariableStep,
    StopStep,
)

_SNOWFLAKE = re.compile(r"^[0-9]{15,21}$")
_IDS = ("channel_id", "user_id", "role_id", "message_id")
# Fields that are not templates (or are walked separately).
_NOT_RENDERED = frozenset({"type", "name", "then", "else", "if", "connection_id", "prompt_id"})

Outcome = Literal["ok", "failed", "skipped"]


class StepFailed(Exception):
    """A step could not be done; the message is for the owner (the run's error)."""


class Effects(Protocol):
    """What steps do to the world. `key` is the step's idempotency key (`<run>:<path>`)."""

    async def discord(
        self, key: str, action: str, params: dict[str, Any], interaction_id: str | None
    ) -> ActResult: ...

    async def http(self, key: str, step: HttpStep, request: dict[str, Any]) -> dict[str, Any]: ...

    async def ai(self, key: str, step: AiStep, variables: dict[str, str]) -> dict[str, Any]: ...

    async def variable(self, key: str, change: VariableChange) -> Any:
        """Apply the change; the variable's new value (None once deleted)."""


@dataclass(frozen=True)
class VariableTarget:
    guild_id: str
    user_id: str | None  # None: a server variable
    key: str


@dataclass(frozen=True)
class VariableChange:
    op: Literal["set", "increment", "delete"]
    where: VariableTarget
    value: Any = None  # the rendered value to set, or how much to add
    expires_in_s: int | None = None


@dataclass
class RunContext:
    """What templates see, and where steps go by default."""

    # `user`, `member`, `guild`, `channel`, `message`, `reaction`, `button`, `now`…
    values: dict[str, Any]
    vars: dict[str, Any] = field(default_factory=dict)
    user_vars: dict[str, Any] = field(default_factory=dict)
    interaction_id: str | None = None
    # A schedule's target channel when a step names none.
    default_channel_id: str | None = None

    def _id(self, part: str, key: str = "id") -> str | None:
        found = self.values.get(part)
        if isinstance(found, Mapping) and found.get(key) is not None:
            return str(found[key])
        return None

    @property
    def guild_id(self) -> str | None:
        return self._id("guild")

    @property
    def channel_id(self) -> str | None:
        return self._id("channel") or self.default_channel_id

    @property
    def user_id(self) -> str | None:
        return self._id("user")

    @property
    def message_id(self) -> str | None:
        return self._id("message")


@dataclass
class StepRecord:
    path: str
    type: str
    rendered: dict[str, Any]
    output: dict[str, Any]
    note: str = ""


@dataclass
class RunResult:
    outcome: Outcome
    steps_done: int
    error: str | None = None
    records: list[StepRecord] = field(default_factory=list)


OnStep = Callable[[StepRecord], Awaitable[None]]


def path_of(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in loc)


class StepEngine:
    def __init__(self, renderer: Renderer, effects: Effects) -> None:
        self.renderer = renderer
        self.effects = effects

    async def run(
        self,
        steps: list[Any],
        ctx: RunContext,
        *,
        run_key: str,
        done: Mapping[str, dict[str, Any]] | None = None,
        on_step: OnStep | None = None,
    ) -> RunResult:
        state = _State(ctx=ctx, run_key=run_key, done=dict(done or {}), on_step=on_step)
        try:
            await self._steps(steps, ("actions",), state)
        except _Stopped:
            pass
        except StepFailed as exc:
            return RunResult("failed", state.count, str(exc), state.records)
        return RunResult("ok", state.count, None, state.records)

    # ------------------------------------------------------------------ walking
    async def _steps(self, steps: list[Any], loc: tuple[str | int, ...], s: _State) -> None:
        for i, step in enumerate(steps):
            where = (*loc, i)
            path = path_of(where)
            if isinstance(step, ConditionStep):
                branch = await self._branch(step, path, s)
                chosen = step.then if branch == "then" else step.else_
                await self._steps(chosen, (*where, branch), s)
                continue
            if isinstance(step, StopStep):
                await self._record(s, StepRecord(path, "stop", {}, {}, "stopped here"))
                raise _Stopped
            if path in s.done:
                s.remember(step, s.done[path])
                s.count += 1
                continue
            try:
                record = await self._one(step, path, s)
            except RenderError as exc:
                raise StepFailed(f"{_label(path, step)}: {exc}") from None
            s.remember(step, record.output)
            await self._record(s, record)

    async def _branch(self, step: ConditionStep, path: str, s: _State) -> str:
        if path in s.done:
            branch = str(s.done[path].get("branch", "else"))
            s.remember(step, s.done[path])
            s.count += 1
            return branch
        try:
            truth = await self.renderer.render(
                "{% if " + step.if_ + " %}1{% endif %}", s.variables()
            )
        except RenderError as exc:
            raise StepFailed(f"{_label(path, step)}: the condition failed: {exc}") from None
        branch = "then" if truth == "1" else "else"
        output = {"branch": branch}
        s.remember(step, output)
        record = StepRecord(path, "condition", {"if": step.if_}, output, f"{branch} runs")
        await self._record(s, record)
        return branch

    async def _record(self, s: _State, record: StepRecord) -> None:
        s.records.append(record)
        s.count += 1
        s.done[record.path] = record.output
        if s.on_step is not None:
            await s.on_step(record)

    # ------------------------------------------------------------------ one step
    async def _one(self, step: Any, path: str, s: _State) -> StepRecord:
        key = f"{s.run_key}:{path}"
        variables = s.variables()
        rendered = await self._render(step, variables)
        kind = step.type
        if kind in DISCORD_STEPS:
            s.discord_calls += 1
            if s.discord_calls > MAX_DISCORD_CALLS:
                raise StepFailed(f"{_label(path, step)}: a run may make at most "
                                 f"{MAX_DISCORD_CALLS} Discord calls")  # fmt: skip
            params = self._targets(kind, rendered, s.ctx, path, step)
            result = await self.effects.discord(key, kind, params, s.ctx.interaction_id)
            if not result.ok:
                raise StepFailed(f"{_label(path, step)}: {result.message or 'Discord refused it'}")
            return StepRecord(path, kind, params, dict(result.output), _note(kind, params))
        if isinstance(step, HttpStep):
            output = await self.effects.http(key, step, rendered)
            return StepRecord(path, kind, rendered, output, f"called {rendered.get('path') or '/'}")
        if isinstance(step, AiStep):
            values = {k: str(v) for k, v in rendered.get("variables", {}).items()}
            output = await self.effects.ai(key, step, values)
            return StepRecord(path, kind, rendered, output, "asked the AI")
        if isinstance(step, SetVariableStep | IncrementVariableStep | DeleteVariableStep):
            target = self._variable_target(step, rendered, s.ctx, path)
            op: Literal["set", "increment", "delete"] = (
                "set" if isinstance(step, SetVariableStep)
                else "increment" if isinstance(step, IncrementVariableStep) else "delete"
            )  # fmt: skip
            value = rendered.get("value") if op == "set" else getattr(step, "by", None)
            change = VariableChange(op, target, value, getattr(step, "expires_in_s", None))
            new = await self.effects.variable(key, change)
            s.set_variable(target, None if op == "delete" else new)
            return StepRecord(path, kind, rendered, {"value": new}, f"{op} {target.key}")
        raise StepFailed(f"{_label(path, step)}: this step cannot run here")

    async def _render(self, step: Any, variables: dict[str, Any]) -> dict[str, Any]:
        raw = step.model_dump(mode="json", exclude=_NOT_RENDERED, exclude_none=True)
        return await self._render_value(raw, variables)  # type: ignore[no-any-return]

    async def _render_value(self, value: Any, variables: dict[str, Any]) -> Any:
        if isinstance(value, str):
            return await self.renderer.render(value, variables) if "{" in value else value
        if isinstance(value, list):
            return [await self._render_value(v, variables) for v in value]
        if isinstance(value, dict):
            return {k: await self._render_value(v, variables) for k, v in value.items()}
        return value

    def _targets(
        self, kind: str, rendered: dict[str, Any], ctx: RunContext, path: str, step: Any
    ) -> dict[str, Any]:
        """The rendered params with each omitted id filled from the event, each checked."""
        params = dict(rendered)
        if kind == "send_message" and not params.get("user_id"):
            params.setdefault("channel_id", ctx.channel_id)
        if kind in ("add_role", "remove_role", "timeout_member", "kick_member"):
            params.setdefault("user_id", ctx.user_id)
        if kind in ("delete_message", "add_reaction"):
            params.setdefault("channel_id", ctx.channel_id)
            params.setdefault("message_id", ctx.message_id)
        for name in _IDS:
            if name in params:
                value = params[name]
                if value is None:
                    raise StepFailed(f"{_label(path, step)}: no {name.replace('_', ' ')} "
                                     "(this trigger has none: set it on the step)")  # fmt: skip
                text = str(value).strip()
                if not _SNOWFLAKE.match(text):
                    raise StepFailed(f"{_label(path, step)}: {name} rendered to {text[:40]!r}, "
                                     "not a Discord id")  # fmt: skip
                params[name] = text
        if ctx.guild_id is not None:
            params.setdefault("guild_id", ctx.guild_id)
        return params

    def _variable_target(
        self, step: Any, rendered: dict[str, Any], ctx: RunContext, path: str
    ) -> VariableTarget:
        guild = ctx.guild_id
        if guild is None:
            raise StepFailed(f"{_label(path, step)}: variables belong to a server, and this "
                             "run has none (set the schedule's server)")  # fmt: skip
        user: str | None = None
        if step.scope == "user":
            user = str(rendered.get("user_id") or ctx.user_id or "").strip()
            if not _SNOWFLAKE.match(user):
                raise StepFailed(f"{_label(path, step)}: no user for a member variable")
        return VariableTarget(guild_id=guild, user_id=user, key=step.key)


class _Stopped(Exception):
    pass


@dataclass
class _State:
    ctx: RunContext
    run_key: str
    done: dict[str, dict[str, Any]]
    on_step: OnStep | None
    count: int = 0
    discord_calls: int = 0
    records: list[StepRecord] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def remember(self, step: Any, output: dict[str, Any]) -> None:
        if step.name:
            self.outputs[step.name] = output

    def set_variable(self, target: VariableTarget, value: Any) -> None:
        bucket = self.ctx.vars if target.user_id is None else self.ctx.user_vars
        if value is None:
            bucket.pop(target.key, None)
        else:
            bucket[target.key] = value

    def variables(self) -> dict[str, Any]:
        return {
            **self.ctx.values,
            "vars": dict(self.ctx.vars),
            "user_vars": dict(self.ctx.user_vars),
            "steps": dict(self.outputs),
        }


def _label(path: str, step: Any) -> str:
    number = ".".join(str(int(p) + 1) for p in path.split(".") if p.isdigit())
    named = f" “{step.name}”" if getattr(step, "name", None) else ""
    return f"step {number}{named} ({step.type})"


def _note(kind: str, params: Mapping[str, Any]) -> str:
    where = (
        f"<#{params['channel_id']}>" if params.get("channel_id")
        else f"a DM to <@{params['user_id']}>" if params.get("user_id") else "the event's place"
    )  # fmt: skip
    return {
        "send_message": f"send to {where}",
        "reply": "reply to the interaction",
        "defer": "defer the interaction",
        "add_role": f"give <@&{params.get('role_id')}> to <@{params.get('user_id')}>",
        "remove_role": f"take <@&{params.get('role_id')}> from <@{params.get('user_id')}>",
        "delete_message": f"delete message {params.get('message_id')}",
        "add_reaction": f"react {params.get('emoji')}",
        "timeout_member": f"time out <@{params.get('user_id')}> for {params.get('duration_s')} s",
        "kick_member": f"kick <@{params.get('user_id')}>",
    }.get(kind, kind)
