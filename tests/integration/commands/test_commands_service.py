"""command-service over NATS with real PostgreSQL, NATS, bot-service and a local HTTP peer:
configuration rules, execution of template/http/ai commands, SSRF refusals, secrets."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from proto import bots as B
from proto import commands as C
from proto import storage as S
from proto.base import Empty
from proto.errors import ErrorCode
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.integration.commands.conftest import collecting

GUILD = "111111111111111111"


def _cmd(**data: Any) -> C.CommandIn:
    base: dict[str, Any] = {"description": "d", "response": {"type": "template", "content": "ok"}}
    return C.CommandIn.model_validate({**base, **data})


def _inv(name: str, kind: str = "slash", **extra: Any) -> C.Invocation:
    extra.setdefault("user", C.Invoker(id="42", username="ann"))
    extra.setdefault("guild_id", GUILD)
    return C.Invocation(kind=kind, name=name, **extra)  # type: ignore[arg-type]


async def _create(call, bot, **data: Any) -> C.CommandOut:
    return await call(C.CREATE, C.CreateCommand(bot_id=bot.bot_id, command=_cmd(**data)), bot.owner)


async def _run(call, bot, inv: C.Invocation) -> C.CommandReply:
    return await call(C.EXECUTE, C.ExecuteCommand(bot_id=bot.bot_id, invocation=inv), bot.owner)


async def _error(coro) -> RpcError:
    with pytest.raises(RpcError) as info:
        await coro
    return info.value


def _locs(err: RpcError) -> dict[tuple[Any, ...], str]:
    return {tuple(f.loc): f.message for f in err.fields}


# ---- configuration ------------------------------------------------------------------------


async def test_crud_validation_and_cross_user_404(call, owned_bot, command_events) -> None:
    bot = owned_bot
    created = await _create(call, bot, name="ping", guild_ids=[GUILD])
    assert [
        c.id for c in (await call(C.LIST, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)).items
    ] == [created.id]

    # Discord's rules, as field-level 422s from the service (unique per scope, templates, refs)
    err = await _error(_create(call, bot, name="ping", guild_ids=[GUILD]))
    assert err.code is ErrorCode.VALIDATION
    assert "already exists" in _locs(err)[("body", "name")]
    await _create(call, bot, name="ping")  # same name, other scope: fine
    err = await _error(
        _create(call, bot, name="broken", response={"type": "template", "content": "{% for %}"})
    )
    assert "syntax" in _locs(err)[("body", "response", "content")]
    err = await _error(
        _create(
            call,
            bot,
            name="ghost",
            response={"type": "http", "connection_id": str(uuid.uuid4()), "content": "x"},
        )
    )
    assert ("body", "response", "connection_id") in _locs(err)
    # PATCH merges then validates the whole command
    err = await _error(
        call(
            C.UPDATE,
            C.UpdateCommand(
                bot_id=bot.bot_id, command_id=created.id, patch=C.CommandPatch(name="Bad Name")
            ),
            bot.owner,
        )
    )
    assert ("body", "name") in _locs(err)
    patched = await call(
        C.UPDATE,
        C.UpdateCommand(
            bot_id=bot.bot_id, command_id=created.id, patch=C.CommandPatch(description="pong!")
        ),
        bot.owner,
    )
    assert patched.description == "pong!"
    assert patched.name == "ping"

    # Someone else: the bot is not theirs -> 404, for reads and writes alike
    stranger = uuid.uuid4()
    for coro in (
        call(C.LIST, C.BotCommandRef(bot_id=bot.bot_id), stranger),
        call(C.GET, C.CommandRef(bot_id=bot.bot_id, command_id=created.id), stranger),
        call(C.CREATE, C.CreateCommand(bot_id=bot.bot_id, command=_cmd(name="x")), stranger),
        call(C.DELETE, C.CommandRef(bot_id=bot.bot_id, command_id=created.id), stranger),
    ):
        assert (await _error(coro)).code is ErrorCode.NOT_FOUND

    # Every change is announced with the manifest hash bot-service compares
    changed = await apoll(lambda: command_events.of("changed"), what="changed events")
    manifest = await call(C.MANIFEST, C.ManifestRequest(bot_id=bot.bot_id), bot.owner)
    await apoll(
        lambda: command_events.of("changed")[-1]["hash"] == manifest.hash, what="latest hash"
    )
    assert changed[0]["bot_id"] == str(bot.bot_id)
    assert [c["name"] for c in manifest.global_commands] == ["ping"]
    assert manifest.guild_commands[GUILD][0] == {
        "name": "ping",
        "type": 1,
        "description": "pong!",
        "options": [],
    }
    await call(C.DELETE, C.CommandRef(bot_id=bot.bot_id, command_id=created.id), bot.owner)
    assert (
        await _error(call(C.GET, C.CommandRef(bot_id=bot.bot_id, command_id=created.id), bot.owner))
    ).code is ErrorCode.NOT_FOUND
    status = await call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)
    assert status.in_sync is False
    assert status.ok is None
    await call(C.SYNC_REPORT, C.SyncReport(bot_id=bot.bot_id, hash=status.hash, ok=True), bot.owner)
    status = await call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)
    assert status.in_sync is True
    assert status.ok is True


async def test_global_slash_limit_is_100(call, owned_bot) -> None:
    for i in range(100):
        await _create(call, owned_bot, name=f"c{i}")
    err = await _error(_create(call, owned_bot, name="c100"))
    assert "at most 100" in _locs(err)[("body", "kind")]
    await _create(call, owned_bot, name="in-guild", guild_ids=[GUILD])  # guild scope is separate


# ---- execution ------------------------------------------------------------------------------


async def test_slash_prefix_context_cooldown_and_permissions(
    call, owned_bot, command_events
) -> None:
    bot = owned_bot
    await call(
        C.SETTINGS_PUT,
        C.BotCommandSettings(bot_id=bot.bot_id, settings=C.CommandSettings(prefix="!")),
        bot.owner,
    )
    await _create(
        call,
        bot,
        name="roll",
        options=[
            {"type": "integer", "name": "sides", "description": "s", "required": True},
            {"type": "string", "name": "label", "description": "l"},
        ],
        response={
            "type": "template",
            "content": "{{ user.username }} rolls d{{ options.sides }} {{ options.label or '' }}",
            "embeds": [{"title": "d{{ options.sides }}", "color": 255}],
        },
    )
    await _create(
        call,
        bot,
        kind="prefix",
        name="echo",
        description="",
        options=[
            {"type": "integer", "name": "n", "description": "n", "required": True},
            {"type": "string", "name": "text", "description": "t"},
        ],
        response={"type": "template", "content": "{{ options.text }} x{{ options.n }}"},
    )
    await _create(
        call,
        bot,
        kind="user",
        name="Wave",
        description="",
        response={
            "type": "template",
            "content": "{{ user.mention }} waves at {{ target.mention }}",
        },
    )
    await _create(
        call,
        bot,
        name="slow-down",
        cooldown_user_s=60,
        response={"type": "template", "content": "once"},
    )
    await _create(call, bot, name="admin", required_permissions=str(1 << 5), ephemeral=True)

    reply = await _run(call, bot, _inv("roll", options={"sides": 20, "label": "for luck"}))
    assert (reply.outcome, reply.content) == ("ok", "ann rolls d20 for luck")
    assert reply.embeds[0]["title"] == "d20"
    reply = await _run(call, bot, _inv("echo", kind="prefix", content="!echo 3 hello there"))
    assert (reply.outcome, reply.content) == ("ok", "hello there x3")
    reply = await _run(call, bot, _inv("ECHO", kind="prefix", content="!ECHO"))
    assert reply.outcome == "error"
    assert "Usage: !echo <n> [text]" in (reply.content or "")
    reply = await _run(call, bot, _inv("Wave", kind="user_context", target_id="77"))
    assert reply.content == "<@42> waves at <@77>"
    assert (await _run(call, bot, _inv("slow-down"))).outcome == "ok"
    cooled = await _run(call, bot, _inv("slow-down"))
    assert cooled.outcome == "cooldown"
    assert cooled.ephemeral
    assert (await _run(call, bot, _inv("slow-down", user=C.Invoker(id="43")))).outcome == "ok"
    assert (await _run(call, bot, _inv("admin"))).outcome == "forbidden"
    manager = C.Invoker(id="44", permissions=str(1 << 5))
    allowed = await _run(call, bot, _inv("admin", user=manager))
    assert allowed.outcome == "ok"
    assert allowed.ephemeral
    assert (await _run(call, bot, _inv("nope"))).outcome == "not_found"

    manifest = await call(C.MANIFEST, C.ManifestRequest(bot_id=bot.bot_id), bot.owner)
    assert manifest.prefix == "!"
    assert manifest.prefix_commands == ["echo"]
    by_name = {c["name"]: c for c in manifest.global_commands}
    assert by_name["Wave"] == {"name": "Wave", "type": 2}
    assert by_name["roll"]["options"][0] == {
        "type": 4,
        "name": "sides",
        "description": "s",
        "required": True,
    }
    assert by_name["admin"]["default_member_permissions"] == str(1 << 5)
    outcomes = await apoll(
        lambda: len(command_events.of("executed")) >= 9 and command_events.of("executed")
    )
    assert {e["outcome"] for e in outcomes} >= {"ok", "cooldown", "forbidden", "error", "not_found"}


async def test_template_sandbox_escapes_and_limits_fail_politely(
    call, owned_bot, command_events
) -> None:
    bot = owned_bot
    cases = {
        "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "big": "{{ 'x' * 100000000 }}",
        "spin": "{% set l = range(20000)|list %}"
        "{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}x",
        "long": "{% for i in range(50000) %}xxxxxxxx{% endfor %}",
    }
    for name, source in cases.items():
        await _create(call, bot, name=name, response={"type": "template", "content": source})
    for name in cases:
        started = time.monotonic()
        reply = await _run(call, bot, _inv(name))
        assert reply.outcome == "error", name
        assert reply.ephemeral
        assert "Sorry" in (reply.content or "")
        assert "<class" not in (reply.content or "")
        assert time.monotonic() - started < 2.0
    errors = await apoll(
        lambda: len(command_events.of("executed")) >= len(cases) and command_events.of("executed")
    )
    causes = {e["command"]: e["error"] for e in errors}
    assert "unsafe" in causes["mro"] or "sandbox" in causes["mro"]
    assert "too long to render" in causes["spin"] or "longer than" in causes["spin"]
    assert "longer than" in causes["long"]
    assert all(e["level"] == "error" for e in errors)


async def test_http_command_with_secret_auth_and_ssrf_refusals(
    call, owned_bot, peer, command_events
) -> None:
    bot = owned_bot
    secret = "tok-" + uuid.uuid4().hex
    conn = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(
            name=f"weather-{uuid.uuid4().hex[:4]}",
            base_url=peer.url + "/v1",
            auth_type="bearer",
            secret=secret,
            headers={"X-Plain": "p"},
            secret_headers={"X-Api-Key": "hdr-" + secret},
        ),
        bot.owner,
    )
    assert conn.secret_set
    assert secret not in conn.model_dump_json()
    assert conn.secret_headers == {"X-Api-Key": "********"}
    assert conn.secret_hint == "…" + secret[-4:]
    fetched = await call(C.CONNECTION_GET, C.ConnectionRef(connection_id=conn.id), bot.owner)
    assert secret not in fetched.model_dump_json()
    assert (
        await _error(call(C.CONNECTION_GET, C.ConnectionRef(connection_id=conn.id), uuid.uuid4()))
    ).code is ErrorCode.NOT_FOUND

    await _create(
        call,
        bot,
        name="weather",
        options=[{"type": "string", "name": "city", "description": "c", "required": True}],
        response={
            "type": "http",
            "connection_id": str(conn.id),
            "path": "/weather",
            "query": {"city": "{{ options.city }}"},
            "content": "{{ data.city }}: {{ data.temp }}°C, {{ data.sky }}",
        },
    )
    reply = await _run(call, bot, _inv("weather", options={"city": "Oslo"}))
    assert (reply.outcome, reply.content) == ("ok", "Oslo: 21°C, clear")
    seen = peer.seen[-1]
    assert seen["headers"]["Authorization"] == f"Bearer {secret}"
    assert seen["headers"]["X-Api-Key"] == "hdr-" + secret
    assert seen["headers"]["X-Plain"] == "p"

    # A changed secret is used at once (cache invalidated), and the old one is gone.
    new_secret = "tok-" + uuid.uuid4().hex
    await call(
        C.CONNECTION_UPDATE,
        C.UpdateConnection(connection_id=conn.id, patch=C.ConnectionPatch(secret=new_secret)),
        bot.owner,
    )
    await _run(call, bot, _inv("weather", options={"city": "Rome"}))
    assert peer.seen[-1]["headers"]["Authorization"] == f"Bearer {new_secret}"
    assert peer.seen[-1]["headers"]["X-Api-Key"] == "hdr-" + secret  # kept

    # SSRF: loopback on another port, metadata, `localhost`, a private address are refused
    # at save (create and update) by the rule Test and execution use, at the field, naming
    # the rule and the operator's allow list; a redirect is refused when it is followed.
    targets = {
        "loopback": (f"http://127.0.0.1:{peer.closed_port}", "points to this machine"),
        "metadata": ("http://169.254.169.254/latest", "link-local"),
        "dnsname": (f"http://localhost:{peer.port}/v1", "points to this machine"),
        "private": ("http://10.0.0.1", "private network address"),
    }
    for label, (url, rule) in targets.items():
        err = await _error(
            call(
                C.CONNECTION_CREATE,
                C.ConnectionIn(name=f"{label}-{uuid.uuid4().hex[:4]}", base_url=url),
                bot.owner,
            )
        )
        message = _locs(err)[("body", "base_url")]
        assert "not allowed" in message, (label, message)
        assert rule in message, (label, message)
        assert "COMMAND_OUTBOUND_ALLOW_HOSTS" in message, message
        assert rule in err.message
    allowed_conn = await call(  # 127.0.0.1:<peer port> is on the test's allow list
        C.CONNECTION_CREATE,
        C.ConnectionIn(name=f"allowed-{uuid.uuid4().hex[:4]}", base_url=peer.url + "/v1"),
        bot.owner,
    )
    err = await _error(
        call(
            C.CONNECTION_UPDATE,
            C.UpdateConnection(
                connection_id=allowed_conn.id,
                patch=C.ConnectionPatch(base_url=f"http://127.0.0.1:{peer.closed_port}/v1"),
            ),
            bot.owner,
        )
    )
    assert "points to this machine" in _locs(err)[("body", "base_url")]
    kept = await call(C.CONNECTION_GET, C.ConnectionRef(connection_id=allowed_conn.id), bot.owner)
    assert kept.base_url == peer.url + "/v1"
    open_conn = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(name=f"open-{uuid.uuid4().hex[:4]}", base_url=peer.url + "/v1"),
        bot.owner,
    )
    assert (
        await call(C.CONNECTION_TEST, C.ConnectionRef(connection_id=open_conn.id), bot.owner)
    ).ok
    for name, to in (
        ("hop-private", f"http://127.0.0.1:{peer.closed_port}/x"),
        ("hop-meta", "http://169.254.169.254/"),
    ):
        await _create(
            call,
            bot,
            name=name,
            response={
                "type": "http",
                "connection_id": str(open_conn.id),
                "path": "/redirect",
                "query": {"to": to},
                "content": "{{ data }}",
            },
        )
        reply = await _run(call, bot, _inv(name))
        assert reply.outcome == "error"
        assert "not allowed" in (reply.error or "")
    await _create(
        call,
        bot,
        name="big",
        response={
            "type": "http",
            "connection_id": str(open_conn.id),
            "path": "/big",
            "content": "{{ text|length }}",
        },
    )
    assert "larger than" in ((await _run(call, bot, _inv("big"))).error or "")
    fail = await _create(
        call,
        bot,
        name="fail",
        response={
            "type": "http",
            "connection_id": str(open_conn.id),
            "path": "/fail",
            "content": "x",
        },
    )
    assert "HTTP 500" in ((await _run(call, bot, _inv("fail"))).error or "")

    # Secrets never appear in events.
    events = await apoll(lambda: len(command_events.of("executed")) >= 6 and command_events.items)
    assert all(secret not in str(d) and new_secret not in str(d) for _, d in events)
    # A failure names the command and the connection it came from (the log links to them).
    failed = (
        await apoll(
            lambda: [d for d in command_events.of("executed") if d.get("command") == "fail"]
        )
    )[-1]
    assert failed["level"] == "error"
    assert (failed["command_id"], failed["connection_id"]) == (str(fail.id), str(open_conn.id))
    # A connection in use cannot be deleted.
    assert (
        await _error(call(C.CONNECTION_DELETE, C.ConnectionRef(connection_id=conn.id), bot.owner))
    ).code is ErrorCode.CONFLICT


async def test_ai_command_with_prompt_and_truncation(call, owned_bot, peer) -> None:
    bot = owned_bot
    conn = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(
            name=f"llm-{uuid.uuid4().hex[:4]}",
            base_url=peer.url + "/v1",
            auth_type="bearer",
            secret="sk-test-1234567890",
        ),
        bot.owner,
    )
    prompt = await call(
        C.PROMPT_CREATE,
        C.PromptIn(
            name=f"helper-{uuid.uuid4().hex[:4]}",
            system="be {{ vars.tone }}",
            user="{{ user.username }} asks: {{ options.q }}",
            model="m1",
            variables={"tone": "kind"},
        ),
        bot.owner,
    )
    long_prompt = await call(
        C.PROMPT_CREATE,
        C.PromptIn(name=f"long-{uuid.uuid4().hex[:4]}", user="x", model="long"),
        bot.owner,
    )
    await _create(
        call,
        bot,
        name="ask",
        options=[{"type": "string", "name": "q", "description": "q", "required": True}],
        response={
            "type": "ai",
            "connection_id": str(conn.id),
            "prompt_id": str(prompt.id),
            "variables": {"tone": "brief"},
        },
    )
    await _create(
        call,
        bot,
        name="essay",
        response={"type": "ai", "connection_id": str(conn.id), "prompt_id": str(long_prompt.id)},
    )
    reply = await _run(call, bot, _inv("ask", options={"q": "why?"}))
    assert (reply.outcome, reply.content) == ("ok", "[m1|be brief] ann asks: why?")
    reply = await _run(call, bot, _inv("essay"))
    assert reply.outcome == "ok"
    assert len(reply.content or "") == 2000
    assert (reply.content or "").endswith("(cut to Discord's 2,000-character limit)")
    # A prompt change reaches the next invocation.
    await call(
        C.PROMPT_UPDATE,
        C.UpdatePrompt(prompt_id=prompt.id, patch=C.PromptPatch(model="m2")),
        bot.owner,
    )
    assert (
        await _run(call, bot, _inv("ask", options={"q": "now?"}))
    ).content == "[m2|be brief] ann asks: now?"
    # The dry-run test route answers the same way, without events or cooldowns.
    cmds = (await call(C.LIST, C.BotCommandRef(bot_id=bot.bot_id), bot.owner)).items
    ask = next(c for c in cmds if c.name == "ask")
    tested = await call(
        C.TEST,
        C.TestCommand(bot_id=bot.bot_id, command_id=ask.id, options={"q": "test?"}),
        bot.owner,
    )
    assert tested.content == "[m2|be brief] tester asks: test?"
    assert (
        await _error(call(C.PROMPT_DELETE, C.PromptRef(prompt_id=prompt.id), bot.owner))
    ).code is ErrorCode.CONFLICT
    assert [p.id for p in (await call(C.PROMPT_LIST, Empty(), uuid.uuid4())).items] == []


async def test_export_then_import_round_trip(
    call, owned_bot, sandbox_control, start_service, tmp_path, nc
) -> None:
    bot = owned_bot
    conn = await call(
        C.CONNECTION_CREATE,
        C.ConnectionIn(
            name=f"api-{uuid.uuid4().hex[:4]}",
            base_url="https://api.example.com/v1",
            auth_type="bearer",
            secret="s3cret-value-123",
        ),
        bot.owner,
    )
    await call(
        C.SETTINGS_PUT,
        C.BotCommandSettings(bot_id=bot.bot_id, settings=C.CommandSettings(prefix="?")),
        bot.owner,
    )
    await _create(
        call,
        bot,
        name="get",
        response={
            "type": "http",
            "connection_id": str(conn.id),
            "path": "/x",
            "content": "{{ data }}",
        },
    )
    await _create(
        call,
        bot,
        kind="message",
        name="Quote it",
        description="",
        response={"type": "template", "content": "> quoted"},
    )
    exported = await call(C.EXPORT, C.ExportRequest(bot_id=bot.bot_id), bot.owner)
    assert "s3cret-value-123" not in exported.model_dump_json()
    assert exported.prefix == "?"
    assert exported.connections[0].name == conn.name
    doc = C.BotImport.model_validate(exported.model_dump(mode="json"))  # what storage validates
    assert len(doc.commands) == 2

    # Upload it as a YAML file (storage-service validates it against BotImport) and
    # import it into a second bot of the same owner: dry run first, then for real.
    start_service("storage", STORAGE_FS_ROOT=str(tmp_path / "files"))
    app = await sandbox_control.create_application(f"Import Bot {uuid.uuid4().hex[:6]}")
    other = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(app.token)), bot.owner)
    text = yaml.safe_dump(exported.model_dump(mode="json"), sort_keys=False).encode()
    info = await call.client.call(
        S.UPLOAD,
        S.UploadFile(kind="config", filename="bot.yaml", content_type="application/yaml"),
        user_id=bot.owner,
        body=text,
    )
    async with collecting(nc, f"aud.{bot.owner}.command") as audit:
        dry = await call(
            C.IMPORT, C.ImportBot(bot_id=other.id, file_id=info.id, dry_run=True), bot.owner
        )
        assert dry.dry_run is True
        assert dry.created == {"commands": 2}
        assert dry.unchanged == {"connections": 1}
        assert (await call(C.LIST, C.BotCommandRef(bot_id=other.id), bot.owner)).items == []
        done = await call(C.IMPORT, C.ImportBot(bot_id=other.id, file_id=info.id), bot.owner)
        assert done.created == {"commands": 2}
        assert done.updated == {"settings": 1}
        copied = await call(C.EXPORT, C.ExportRequest(bot_id=other.id), bot.owner)
        assert copied.model_dump() == exported.model_dump()
        again = await call(C.IMPORT, C.ImportBot(bot_id=other.id, file_id=info.id), bot.owner)
        assert again.created == {}
        assert again.unchanged["commands"] == 2
        # A later change's record comes after any earlier one (the outbox keeps the order).
        marker = C.BotCommandSettings(bot_id=other.id, settings=C.CommandSettings(prefix="!"))
        await call(C.SETTINGS_PUT, marker, bot.owner)

        def actions() -> list[str]:
            return [d["action"] for _, d in audit.items if d["target_id"] == str(other.id)]

        await apoll(lambda: "command.settings_update" in actions())
    # The dry run's record rolled back with it; the import that changed nothing wrote none.
    assert actions() == ["command.import", "command.settings_update"]
    # A file with the default prefix, imported into a bot that never saved one, changes no
    # setting (the bot already answers to "!").
    fresh_app = await sandbox_control.create_application(f"Fresh Bot {uuid.uuid4().hex[:6]}")
    fresh = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(fresh_app.token)), bot.owner)
    plain = {**exported.model_dump(mode="json"), "prefix": "!"}
    plain_file = await call.client.call(
        S.UPLOAD,
        S.UploadFile(kind="config", filename="plain.json", content_type="application/json"),
        user_id=bot.owner,
        body=json.dumps(plain).encode(),
    )
    into_fresh = await call(
        C.IMPORT, C.ImportBot(bot_id=fresh.id, file_id=plain_file.id), bot.owner
    )
    assert "settings" not in into_fresh.updated
    assert into_fresh.unchanged["settings"] == 1
    # Another user cannot import it (their bot check fails first) nor read the file.
    stranger = uuid.uuid4()
    err = await _error(call(C.IMPORT, C.ImportBot(bot_id=other.id, file_id=info.id), stranger))
    assert err.code is ErrorCode.NOT_FOUND
    # Storage refuses a file that breaks BotImport's rules at upload already...
    broken = exported.model_dump(mode="json")
    broken["commands"].append(dict(broken["commands"][0]))
    err = await _error(
        call.client.call(
            S.UPLOAD,
            S.UploadFile(kind="config", filename="dup.json", content_type="application/json"),
            user_id=bot.owner,
            body=json.dumps(broken).encode(),
        )
    )
    assert "already exists" in err.message
    # ...and the import refuses, as a whole, one whose references do not resolve.
    dangling = exported.model_dump(mode="json")
    dangling["connections"] = []
    dangling["commands"][0]["response"]["connection"] = "nowhere"
    dangling["commands"][1]["name"] = "Quote that"
    bad = await call.client.call(
        S.UPLOAD,
        S.UploadFile(kind="config", filename="dangling.json", content_type="application/json"),
        user_id=bot.owner,
        body=json.dumps(dangling).encode(),
    )
    err = await _error(call(C.IMPORT, C.ImportBot(bot_id=other.id, file_id=bad.id), bot.owner))
    assert err.code is ErrorCode.VALIDATION
    assert _locs(err)[("document", "commands", 0, "response", "connection")]
    names = {
        c.name for c in (await call(C.LIST, C.BotCommandRef(bot_id=other.id), bot.owner)).items
    }
    assert "Quote that" not in names  # nothing of it was applied
    # An imported connection passes the outbound rule a saved one does.
    local = exported.model_dump(mode="json")
    local["connections"][0]["base_url"] = "http://127.0.0.1:8000/v1"
    bad = await call.client.call(
        S.UPLOAD,
        S.UploadFile(kind="config", filename="local.json", content_type="application/json"),
        user_id=bot.owner,
        body=json.dumps(local).encode(),
    )
    err = await _error(call(C.IMPORT, C.ImportBot(bot_id=other.id, file_id=bad.id), bot.owner))
    assert "points to this machine" in _locs(err)[("document", "connections", 0, "base_url")]
    kept = await call(C.CONNECTION_GET, C.ConnectionRef(connection_id=conn.id), bot.owner)
    assert kept.base_url == "https://api.example.com/v1"
