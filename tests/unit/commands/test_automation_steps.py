"""The step engine (#18) with a recording fake of the world (bot-service, HTTP, AI and
variables are crossed in the integration tests): order, templates, defaults taken from the
event, conditions, stop, limits, failures in words, and resuming without doing anything
twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter

from command_service.execution.steps import (
    RunContext,
    StepEngine,
    StepRecord,
    VariableChange,
    VariableTarget,
)
from command_service.execution.templates import Renderer
from proto.automations import ActResult, AiStep, HttpStep, Step

GUILD, CHANNEL, USER, ROLE, MESSAGE = "1" * 18, "2" * 18, "3" * 18, "4" * 18, "5" * 18
_STEPS: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


class World:
    """Effects that record what would have happened."""

    def __init__(self, refuse: dict[str, ActResult] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.refuse = refuse or {}
        self.variables: dict[VariableTarget, Any] = {}

    async def discord(
        self, key: str, action: str, params: dict[str, Any], interaction_id: str | None
    ) -> ActResult:
        self.calls.append((key, action, params))
        if action in self.refuse:
            return self.refuse[action]
        sent = {"message_id": "9" * 18} if action == "send_message" else {}
        return ActResult(ok=True, output=sent)

    async def http(self, key: str, step: HttpStep, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((key, "http", request))
        return {"status": 200, "data": {"temp": 21}}

    async def ai(self, key: str, step: AiStep, variables: dict[str, str]) -> dict[str, Any]:
        self.calls.append((key, "ai", variables))
        return {"text": "a haiku"}

    async def variable(self, key: str, change: VariableChange) -> Any:
        where = change.where
        self.calls.append((key, f"var.{change.op}", {"key": where.key, "user": where.user_id}))
        if change.op == "delete":
            self.variables.pop(where, None)
            return None
        new = change.value if change.op == "set" else self.variables.get(where, 0) + change.value
        self.variables[where] = new
        return new


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    r = Renderer(timeout_s=0.5, max_output=5000, workers=1)
    yield r
    r.close()


def join_event(**values: Any) -> RunContext:
    return RunContext(
        values={
            "user": {"id": USER, "name": "grace"},
            "member": {"roles": [], "display_name": "Grace"},
            "guild": {"id": GUILD, "name": "Sandbox Server", "member_count": 3},
            "channel": {"id": CHANNEL, "name": "general"},
            "message": {"id": MESSAGE, "content": "hi"},
            **values,
        }
    )


def steps(*items: dict[str, Any]) -> list[Any]:
    return _STEPS.validate_python(list(items))


async def test_a_welcome_renders_the_event_and_goes_to_the_events_channel(
    renderer: Renderer,
) -> None:
    world = World()
    result = await StepEngine(renderer, world).run(
        steps(
            {"type": "send_message", "name": "hello",
             "content": "Welcome {{ member.display_name }} to {{ guild.name }}!"},
            {"type": "add_role", "role_id": ROLE},
            {"type": "send_message", "content": "said {{ steps.hello.message_id }}",
             "user_id": "{{ user.id }}"},
        ),
        join_event(), run_key="run1",
    )  # fmt: skip
    assert (result.outcome, result.steps_done, result.error) == ("ok", 3, None)
    (k1, a1, p1), (_, a2, p2), (_, a3, p3) = world.calls
    assert (k1, a1) == ("run1:actions.0", "send_message")
    assert p1["content"] == "Welcome Grace to Sandbox Server!"
    assert p1["channel_id"] == CHANNEL
    assert (a2, p2["role_id"], p2["user_id"], p2["guild_id"]) == ("add_role", ROLE, USER, GUILD)
    # A DM (user_id) to the member, reading an earlier step's output.
    assert (a3, p3["user_id"], p3["content"]) == ("send_message", USER, "said " + "9" * 18)
    assert "channel_id" not in p3


async def test_a_condition_takes_one_branch_and_stop_ends_the_run(renderer: Renderer) -> None:
    world = World()
    result = await StepEngine(renderer, world).run(
        steps(
            {"type": "condition", "if": "member.roles | length == 0",
             "then": [{"type": "add_role", "role_id": ROLE}, {"type": "stop"}],
             "else": [{"type": "kick_member"}]},
            {"type": "send_message", "content": "never"},
        ),
        join_event(), run_key="r",
    )  # fmt: skip
    assert result.outcome == "ok"
    assert [a for _, a, _ in world.calls] == ["add_role"]
    assert [r.path for r in result.records] == ["actions.0", "actions.0.then.0", "actions.0.then.1"]


async def test_variables_count_and_later_steps_see_the_new_value(renderer: Renderer) -> None:
    world = World()
    plan = steps(
        {"type": "increment_variable", "key": "joins"},
        {"type": "increment_variable", "key": "visits", "scope": "user", "by": 2},
        {"type": "send_message", "content": "member #{{ vars.joins }}, {{ user_vars.visits }}"},
    )
    engine = StepEngine(renderer, world)
    await engine.run(plan, join_event(), run_key="a")
    second = RunContext(values=join_event().values, vars={"joins": 1})
    result = await engine.run(plan, second, run_key="b")
    assert result.outcome == "ok"
    assert world.calls[-1][2]["content"] == "member #2, 4"
    assert world.variables[VariableTarget(GUILD, None, "joins")] == 2
    assert world.variables[VariableTarget(GUILD, USER, "visits")] == 4


async def test_a_discord_refusal_fails_the_run_with_the_step_and_the_reason(
    renderer: Renderer,
) -> None:
    refused = ActResult(ok=False, code=50013, message="the bot lacks Manage Roles in this server")
    world = World(refuse={"add_role": refused})
    result = await StepEngine(renderer, world).run(
        steps({"type": "send_message", "content": "hi"},
              {"type": "add_role", "name": "give", "role_id": ROLE},
              {"type": "send_message", "content": "not reached"}),
        join_event(), run_key="r",
    )  # fmt: skip
    assert (result.outcome, result.steps_done) == ("failed", 1)
    assert result.error == "step 2 “give” (add_role): the bot lacks Manage Roles in this server"
    assert len(world.calls) == 2


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"type": "add_role", "role_id": "{{ vars.missing }}x"},
         "role_id rendered to 'x', not a Discord id"),
        ({"type": "send_message", "content": "{{ 1/0 }}"}, "step 1 (send_message)"),
    ],
)
async def test_templates_that_go_wrong_fail_the_run_in_words(
    renderer: Renderer, step: dict[str, Any], words: str
) -> None:
    result = await StepEngine(renderer, World()).run(steps(step), join_event(), run_key="r")
    assert result.outcome == "failed"
    assert words in (result.error or "")


async def test_a_schedule_without_a_channel_says_where_to_set_it(renderer: Renderer) -> None:
    bare = RunContext(values={"guild": {"id": GUILD}})
    result = await StepEngine(renderer, World()).run(
        steps({"type": "send_message", "content": "tick"}), bare, run_key="r"
    )
    assert "no channel id" in (result.error or "")
    aimed = RunContext(values={"guild": {"id": GUILD}}, default_channel_id=CHANNEL)
    world = World()
    assert (await StepEngine(renderer, world).run(
        steps({"type": "send_message", "content": "tick"}), aimed, run_key="r"
    )).outcome == "ok"  # fmt: skip
    assert world.calls[0][2]["channel_id"] == CHANNEL


async def test_more_than_25_discord_calls_fail_the_run(renderer: Renderer) -> None:
    # A saved list holds 25 steps at most; the engine holds the line for any list it is given.
    plan = steps(*[{"type": "add_reaction", "emoji": "👍"}] * 26)
    world = World()
    result = await StepEngine(renderer, world).run(plan, join_event(), run_key="r")
    assert (result.outcome, result.steps_done, len(world.calls)) == ("failed", 25, 25)
    assert "at most 25 Discord calls" in (result.error or "")


async def test_a_resumed_run_does_nothing_twice_and_keeps_the_first_branch(
    renderer: Renderer,
) -> None:
    plan = steps(
        {"type": "send_message", "name": "first", "content": "one"},
        {"type": "condition", "if": "true",
         "then": [{"type": "increment_variable", "key": "n"}],
         "else": [{"type": "kick_member"}]},
        {"type": "send_message", "content": "after {{ steps.first.message_id }}"},
    )  # fmt: skip
    recorded: list[StepRecord] = []

    async def keep(record: StepRecord) -> None:
        recorded.append(record)

    # The first attempt sent the first message, then its replica died.
    await StepEngine(renderer, World()).run(plan[:1], join_event(), run_key="r", on_step=keep)
    done = {r.path: r.output for r in recorded}
    # Its condition had taken "else" (say `now` differed then) and that step was done.
    done["actions.1"] = {"branch": "else"}
    done["actions.1.else.0"] = {}
    again = World()
    result = await StepEngine(renderer, again).run(plan, join_event(), run_key="r", done=done)
    assert (result.outcome, result.steps_done) == ("ok", 4)
    assert [(k, a) for k, a, _ in again.calls] == [("r:actions.2", "send_message")]
    assert again.calls[0][2]["content"] == "after " + "9" * 18
