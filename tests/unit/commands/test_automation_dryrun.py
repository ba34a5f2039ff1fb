"""The dry run (#18): a sample event per trigger built from the advertised variables (so
every advertised variable renders), steps rendered and described, nothing sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter

from command_service.execution.dryrun import DryEffects, dry_context, sample_values
from command_service.execution.steps import StepEngine
from command_service.execution.templates import Renderer
from proto.automations import Step, TriggerType, variables_for

_STEPS: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


@pytest.fixture(scope="module")
def renderer() -> Iterator[Renderer]:
    r = Renderer(timeout_s=0.5, max_output=5000, workers=1)
    yield r
    r.close()


@pytest.mark.parametrize("trigger", get_args(TriggerType))
async def test_every_advertised_variable_renders_in_the_sample_of_its_trigger(
    renderer: Renderer, trigger: TriggerType
) -> None:
    ctx = dry_context(trigger)
    scope = {**ctx.values, "vars": {}, "user_vars": {}, "steps": {}, "random": 0.5}
    for var in variables_for(trigger):
        if var.path.endswith(".NAME"):
            continue
        shown = await renderer.render("{{ " + var.path + " }}", scope)
        assert shown != "", f"{trigger}: {var.path} renders empty"


def test_the_sample_has_the_right_shapes() -> None:
    join = sample_values("member_join")
    assert isinstance(join["member"]["roles"], list)
    assert join["user"]["bot"] is False
    assert join["guild"]["member_count"] == 42
    assert isinstance(join["user"]["id"], str)
    assert not {"message", "channel"} & set(join)
    assert "reaction" in sample_values("reaction_add")


async def test_a_dry_run_renders_the_given_event_and_sends_nothing(renderer: Renderer) -> None:
    ctx = dry_context("member_join", {"user": {"name": "ada"}}, vars={"joins": 41})
    plan: list[Any] = _STEPS.validate_python([
        {"type": "increment_variable", "key": "joins"},
        {"type": "send_message", "name": "w", "channel_id": "41771983423143938",
         "content": "Welcome {{ user.name }}, #{{ vars.joins }}"},
        {"type": "condition", "if": "vars.joins > 100", "then": [{"type": "kick_member"}]},
    ])  # fmt: skip
    result = await StepEngine(renderer, DryEffects(ctx)).run(plan, ctx, run_key="dry")
    assert result.outcome == "ok"
    assert [r.note for r in result.records] == [
        "increment joins", "send to <#41771983423143938>", "else runs",
    ]  # fmt: skip
    assert result.records[1].rendered["content"] == "Welcome ada, #42"
    assert ctx.vars == {"joins": 42}  # the run's own copy; nothing was stored
