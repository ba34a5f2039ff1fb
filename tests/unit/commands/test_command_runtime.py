"""Units of command-service without infrastructure: template sandbox and limits, SSRF
address rules, manifest shape and hash, prefix argument parsing, cooldowns."""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from command_service.bot_setup import Command, build_manifest
from command_service.execution.executor import (
    CommandFailed,
    Cooldowns,
    allowed,
    parse_prefix_args,
    truncate,
)
from command_service.execution.outbound import Guard, OutboundError, address_refused
from command_service.execution.templates import Renderer, RenderError
from proto.commands import CommandIn, Invocation, Invoker


@pytest.fixture
async def renderer() -> AsyncIterator[Renderer]:
    r = Renderer(timeout_s=0.2, max_output=5000, workers=1)
    yield r
    r.close()


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ x.append(1) }}",
    "{{ 'a' * 10**9 }}",
    "{{ 'x'|center(10**8) }}",
    "{{ (10**100)**(10**100) }}",
    "{{ lipsum.__globals__ }}",
]


@pytest.mark.parametrize("source", ESCAPES)
async def test_sandbox_escapes_render_nothing_dangerous(renderer: Renderer, source: str) -> None:
    try:
        out = await renderer.render(source, {"x": [1]})
    except RenderError:
        return
    assert "class" not in out
    assert "function" not in out
    assert "module" not in out


async def test_render_time_and_output_are_capped(renderer: Renderer) -> None:
    spin = "{% set l = range(20000)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(RenderError, match="longer than 200 ms"):
        await renderer.render(spin, {})
    assert time.monotonic() - started < 1.0
    # the worker thread was stopped and serves the next render
    assert await renderer.render("hi {{ name }}", {"name": "bo"}) == "hi bo"
    with pytest.raises(RenderError, match="longer than 5000"):
        await renderer.render("{% for i in range(2000) %}xxxx{% endfor %}", {})
    assert renderer.check("{% if %}") is not None
    assert renderer.check("{{ ok }}") is None


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.0.1", True),
        ("172.16.5.4", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("224.0.0.1", True),
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00:ec2::254", True),
        ("::ffff:127.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
    ],
)
def test_address_rules(address: str, refused: bool) -> None:
    assert (address_refused(ipaddress.ip_address(address)) is not None) is refused


async def test_guard_resolves_names_and_honours_the_allow_list() -> None:
    guard = Guard.from_list(["127.0.0.1:8080"])
    assert await guard.resolve("127.0.0.1", 8080) == "127.0.0.1"
    with pytest.raises(OutboundError, match="loopback"):
        await guard.resolve("127.0.0.1", 8081)
    with pytest.raises(OutboundError, match="loopback"):
        await guard.resolve("localhost", 8080)  # a name resolving to loopback
    with pytest.raises(OutboundError, match="metadata"):
        await guard.resolve("metadata.google.internal", 80)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000 are not allowed: it points to this machine"),
        ("http://localhost:8080/v1", "localhost:8080 are not allowed: it points to this machine"),
        ("http://api.localhost/", "points to this machine"),
        ("https://10.1.2.3/v1", "points to a private network address"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[::1]:9000/", r"\[::1\]:9000 are not allowed"),
        ("http://metadata.google.internal/", "cloud metadata"),
    ],
)
def test_a_saved_url_is_checked_by_the_rule_calls_use(url: str, rule: str) -> None:
    """check_url (at save) refuses what resolve (at Test and execution) refuses, naming
    the rule and the operator's setting, without asking DNS."""
    with pytest.raises(OutboundError, match=rule) as info:
        Guard().check_url(url)
    if "metadata.google" not in url:
        assert "COMMAND_OUTBOUND_ALLOW_HOSTS" in str(info.value)


def test_a_saved_url_on_the_allow_list_or_with_a_public_name_passes() -> None:
    guard = Guard.from_list(["127.0.0.1:8000", "localhost"])
    guard.check_url("http://127.0.0.1:8000/v1")
    guard.check_url("http://localhost:9999/")
    guard.check_url("https://api.example.com/v1")  # names are resolved when called
    guard.check_url("https://93.184.216.34/")
    with pytest.raises(OutboundError, match="loopback"):
        guard.check_url("http://127.0.0.1:8001/v1")
    with pytest.raises(OutboundError, match="http:// and https://"):
        guard.check_url("ftp://example.com/")


def _spec(**data: object) -> CommandIn:
    base = {"description": "d", "response": {"type": "template", "content": "x"}}
    return CommandIn.model_validate({**base, **data})


def test_manifest_shape_and_hash() -> None:
    bot = uuid.uuid4()
    cmds = [
        Command(
            uuid.uuid4(),
            _spec(
                name="b",
                options=[{"type": "integer", "name": "n", "description": "n", "min_value": 1}],
            ),
        ),
        Command(uuid.uuid4(), _spec(name="a", guild_ids=["123456789012345678"])),
        Command(uuid.uuid4(), _spec(kind="prefix", name="Echo", description="")),
        Command(uuid.uuid4(), _spec(name="off", enabled=False)),
    ]
    m = build_manifest(bot, "!", cmds)
    assert m.global_commands == [
        {
            "name": "b",
            "type": 1,
            "description": "d",
            "options": [
                {"type": 4, "name": "n", "description": "n", "required": False, "min_value": 1}
            ],
        }
    ]
    assert list(m.guild_commands) == ["123456789012345678"]
    assert m.prefix_commands == ["Echo"]
    assert build_manifest(bot, "!", list(reversed(cmds))).hash == m.hash  # order-free
    assert build_manifest(bot, "?", cmds).hash != m.hash


def test_prefix_arguments_permissions_cooldowns_and_truncation() -> None:
    spec = _spec(
        kind="prefix",
        name="add",
        description="",
        options=[
            {"type": "integer", "name": "a", "description": "a", "required": True},
            {"type": "boolean", "name": "loud", "description": "l"},
            {"type": "string", "name": "note", "description": "n"},
        ],
    )
    inv = Invocation(
        kind="prefix", name="add", user=Invoker(id="1"), content="!add 2 yes hello world"
    )
    args, options = parse_prefix_args(spec, inv, "!")
    assert args == ["2", "yes", "hello", "world"]
    assert options == {"a": 2, "loud": True, "note": "hello world"}
    with pytest.raises(CommandFailed, match="a must be a integer"):
        parse_prefix_args(spec, inv.model_copy(update={"content": "!add x"}), "!")
    guarded = _spec(name="g", required_role_ids=["123456789012345678"])
    assert not allowed(
        guarded, Invocation(kind="slash", name="g", user=Invoker(id="1"), guild_id="5")
    )
    assert allowed(
        guarded,
        Invocation(
            kind="slash", name="g", guild_id="5", user=Invoker(id="1", roles=["123456789012345678"])
        ),
    )
    cool = Command(uuid.uuid4(), _spec(name="c", cooldown_user_s=10))
    clock = Cooldowns()
    slash = Invocation(kind="slash", name="c", user=Invoker(id="1"))
    assert clock.check(cool, slash, 100.0) == 0
    assert clock.check(cool, slash, 105.0) == pytest.approx(5.0)
    assert clock.check(cool, slash, 110.5) == 0
    text = truncate("y" * 2500)
    assert len(text) == 2000
    assert text.endswith("2,000-character limit)")
