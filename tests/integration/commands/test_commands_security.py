"""Security fixes of command-service (issue 23) over NATS with the real command-service:
credentials and redirects, short secrets in logs and events, values HTTP or JSON cannot
carry (answers too deep or too long for Python, headers beyond Latin-1)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from proto import commands as C
from tests.fixtures.infra import apoll

GUILD = "111111111111111111"


async def _connection(call, owner: uuid.UUID, base_url: str, **data: Any) -> C.ConnectionOut:
    spec = C.ConnectionIn.model_validate(
        {"name": f"c-{uuid.uuid4().hex[:6]}", "base_url": base_url, **data}
    )
    return await call(C.CONNECTION_CREATE, spec, owner)


async def _create_and_run(call, owned_bot, name: str, response: dict[str, Any]) -> Any:
    """Save a slash command with this HTTP `response` and invoke it once."""
    owner = owned_bot.owner
    command = C.CommandIn.model_validate({"name": name, "description": "d", "response": response})
    await call(C.CREATE, C.CreateCommand(bot_id=owned_bot.bot_id, command=command), owner)
    invocation = C.Invocation(
        kind="slash", name=name, user=C.Invoker(id="42", username="ann"), guild_id=GUILD
    )
    return await call(
        C.EXECUTE, C.ExecuteCommand(bot_id=owned_bot.bot_id, invocation=invocation), owner
    )


async def _test(call, owner: uuid.UUID, conn: C.ConnectionOut) -> C.ConnectionTestResult:
    return await call(C.CONNECTION_TEST, C.ConnectionRef(connection_id=conn.id), owner)


# ---- item 3: credentials do not follow a redirect to another origin


async def test_connection_credentials_stay_with_their_origin(call, owned_bot, peer) -> None:
    owner = owned_bot.owner
    secret = "tok-" + uuid.uuid4().hex
    bearer = dict(
        auth_type="bearer",
        secret=secret,
        headers={"X-Plain": "plain"},
        secret_headers={"X-Api-Key": "hdr-" + secret},
    )

    # Same origin: the redirect keeps everything (and keeps working).
    same = await _connection(call, owner, peer.url + "/v1/to-self", **bearer)
    result = await _test(call, owner, same)
    assert result.ok, result
    got = peer.seen[-1]
    assert got["path"] == "/v1/echo"
    assert got["headers"]["Authorization"] == f"Bearer {secret}"
    assert got["headers"]["X-Api-Key"] == "hdr-" + secret

    # Another origin (a different port on the same address): no auth, no secret headers;
    # the connection's plain headers still go.
    before = len(peer.other_seen)
    away = await _connection(call, owner, peer.url + "/v1/to-other", **bearer)
    result = await _test(call, owner, away)
    assert result.ok, result
    assert len(peer.other_seen) == before + 1
    got = peer.other_seen[-1]
    assert got["headers"]["X-Plain"] == "plain"
    assert "Authorization" not in got["headers"]
    assert "X-Api-Key" not in got["headers"]
    assert secret not in str(got)

    # Secret header and query auth: the key's parameter and header stay home too.
    for kind, name in (("query", "api_key"), ("header", "X-Token")):
        conn = await _connection(
            call, owner, peer.url + "/v1/to-other", auth_type=kind, auth_name=name, secret=secret
        )
        assert (await _test(call, owner, conn)).ok
        got = peer.other_seen[-1]
        assert name not in got["query"], (kind, got)
        assert name not in got["headers"], (kind, got)
        assert secret not in str(got), kind
    basic = await _connection(
        call,
        owner,
        peer.url + "/v1/to-other",
        auth_type="basic",
        auth_username="ann",
        secret=secret,
    )
    assert (await _test(call, owner, basic)).ok
    assert "Authorization" not in peer.other_seen[-1]["headers"]

    # A command's HTTP call follows the same rule, and its own query still goes along.
    reply = await _create_and_run(
        call,
        owned_bot,
        "hop",
        {
            "type": "http",
            "connection_id": str(away.id),
            "query": {"city": "Oslo"},
            "content": "{{ data.other }}",
        },
    )
    assert (reply.outcome, reply.content) == ("ok", "True"), reply
    got = peer.other_seen[-1]
    assert got["query"] == {"city": "Oslo"}
    assert "Authorization" not in got["headers"]
    assert "X-Api-Key" not in got["headers"]


async def test_redirect_targets_are_checked_for_ssrf(call, owned_bot, peer) -> None:
    """The allow list lets the test reach its peers; a hop to any other loopback port or
    to the metadata address is refused on the redirect itself."""
    owner = owned_bot.owner
    conn = await _connection(call, owner, peer.url + "/v1")
    for name, to in (
        ("hop-closed", f"http://127.0.0.1:{peer.closed_port}/x"),
        ("hop-local", f"http://localhost:{peer.other_port}/x"),
        ("hop-meta", "http://169.254.169.254/latest/meta-data"),
    ):
        reply = await _create_and_run(
            call,
            owned_bot,
            name,
            {
                "type": "http",
                "connection_id": str(conn.id),
                "path": "/redirect",
                "query": {"to": to},
                "content": "{{ data }}",
            },
        )
        assert reply.outcome == "error", name
        assert "not allowed" in (reply.error or ""), (name, reply.error)


# ---- item 9: short connection secrets are masked like long ones


async def test_short_secrets_are_masked_in_replies_events_and_tests(
    call, owned_bot, peer, command_events
) -> None:
    owner = owned_bot.owner
    secret, header_secret = "k5x9q", "h7w2z"  # 5 characters each
    conn = await _connection(
        call,
        owner,
        peer.url + "/v1",
        auth_type="header",
        auth_name="X-Key",
        secret=secret,
        secret_headers={"X-Other": header_secret},
    )
    # The API echoes the headers it got; the template then fails with an error that
    # quotes them (jinja names the missing key), so the run's error carries the secrets.
    reply = await _create_and_run(
        call,
        owned_bot,
        "leak",
        {
            "type": "http",
            "connection_id": str(conn.id),
            "path": "/echo",
            "content": "{{ data.headers[data.headers['X-Key'] ~ '/' ~ "
            "data.headers['X-Other']].x }}",
        },
    )
    assert reply.outcome == "error"
    assert "[redacted]/[redacted]" in (reply.error or ""), reply.error
    assert secret not in reply.model_dump_json()
    assert header_secret not in reply.model_dump_json()

    def executed() -> list[dict[str, Any]]:
        return [e for e in command_events.of("executed") if e.get("command") == "leak"]

    events = await apoll(executed)
    assert "[redacted]/[redacted]" in events[0]["error"]
    assert "[redacted]/[redacted]" in events[0]["message"]
    assert secret not in str(events)
    assert header_secret not in str(events)

    # The connection test's preview of the answer (the echo of the headers) too.
    result = await _test(call, owner, conn)
    assert result.ok
    assert "[redacted]" in (result.preview or "")
    assert secret not in (result.preview or "")
    assert header_secret not in (result.preview or "")


# ---- item 6: API answers Python's json will not hold are not a crash


async def test_api_answers_too_deep_or_too_long_for_python_are_handled(
    call, owned_bot, peer
) -> None:
    owner = owned_bot.owner
    conn = await _connection(call, owner, peer.url + "/v1")
    ai_conn = await _connection(
        call, owner, peer.url + "/v1/deep", auth_type="bearer", secret="sk-deep-123456"
    )
    prompt = await call(
        C.PROMPT_CREATE, C.PromptIn(name=f"p-{uuid.uuid4().hex[:4]}", user="x", model="m"), owner
    )
    responses = {
        "deep": {
            "type": "http",
            "connection_id": str(conn.id),
            "path": "/deep",
            "content": "{{ text|length }} {{ data is string }}",
        },
        "bigint": {
            "type": "http",
            "connection_id": str(conn.id),
            "path": "/deep",
            "query": {"kind": "bigint"},
            "content": "{{ text|length }} {{ data is string }}",
        },
        "deepai": {"type": "ai", "connection_id": str(ai_conn.id), "prompt_id": str(prompt.id)},
    }
    replies = {
        name: await _create_and_run(call, owned_bot, name, response)
        for name, response in responses.items()
    }
    # Not JSON Python can hold: the answer is there as text.
    assert (replies["deep"].outcome, replies["deep"].content) == ("ok", "100000 True")
    assert (replies["bigint"].outcome, replies["bigint"].content) == ("ok", "5007 True")
    assert replies["deepai"].outcome == "error"
    assert "not a chat completion" in (replies["deepai"].error or "")


# ---- item 6: header names and values that HTTP cannot carry, through the gateway


async def test_unsendable_headers_are_a_422_naming_the_field(
    auth_stack, sandbox, sandbox_control, command_service, peer
) -> None:
    from tests.fixtures.auth import sign_in
    from tests.integration.commands.gateway_api import command_body, field_errors

    who = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=who.headers, timeout=20) as api:

        def conn(**data: Any) -> dict[str, Any]:
            return {"name": f"h-{uuid.uuid4().hex[:6]}", "base_url": peer.url + "/v1", **data}

        bad = {
            ("body", "headers", "X-Name"): conn(headers={"X-Name": "snow \u2603"}),
            ("body", "headers", "X-Ctl"): conn(headers={"X-Ctl": "a\x01b"}),
            ("body", "headers", "X-Bad\n"): conn(headers={"X-Bad\n": "v"}),
            ("body", "secret_headers", "X-Key"): conn(secret_headers={"X-Key": "k\u00e9\u2603"}),
            ("body", "secret"): conn(auth_type="bearer", secret="tok-\u2603"),
            ("body", "base_url"): conn(base_url="http://127.0.0.1:99999/v1"),
        }
        for loc, body in bad.items():
            locs = field_errors(await api.post("/v1/connections", json=body))
            assert loc in locs, (loc, locs)
        # A loopback URL not on the operator's allow list: a 422 at base_url naming the rule.
        r = await api.post("/v1/connections", json=conn(base_url="http://127.0.0.1:8000"))
        message = field_errors(r)[("body", "base_url")]
        assert "points to this machine" in message
        assert "COMMAND_OUTBOUND_ALLOW_HOSTS" in message
        assert "points to this machine" in r.json()["error"]["message"]
        # The secret is not quoted back.
        r = await api.post("/v1/connections", json=bad[("body", "secret")])
        assert "\u2603" not in r.text

        # Latin-1 text is sendable: created, and the test call goes through.
        created = await api.post("/v1/connections", json=conn(headers={"X-City": "Z\u00fcrich"}))
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        tested = await api.post(f"/v1/connections/{cid}/test")
        assert tested.status_code == 200, tested.text
        assert tested.json()["ok"] is True
        # An update is checked the same way (at the edge and once merged).
        locs = field_errors(
            await api.patch(f"/v1/connections/{cid}", json={"headers": {"X-Name": "\u2603"}})
        )
        assert ("body", "headers", "X-Name") in locs
        locs = field_errors(
            await api.patch(
                f"/v1/connections/{cid}",
                json={"auth_type": "header", "auth_name": "X-Token", "secret": "\u2603"},
            )
        )
        assert ("body", "secret") in locs

        # A header a command renders at run time that HTTP cannot carry: the command's
        # error names it (the test route answered 500 before).
        created = await api.post(
            "/v1/bots",
            json={
                "name": "hdr bot",
                "token": (
                    await sandbox_control.create_application(f"Hdr {uuid.uuid4().hex[:6]}")
                ).token,
            },
        )
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        command = await api.post(
            f"/v1/bots/{bot_id}/commands",
            json=command_body(
                name="hdr",
                options=[{"type": "string", "name": "who", "description": "w"}],
                response={
                    "type": "http",
                    "connection_id": cid,
                    "path": "/echo",
                    "headers": {"X-Who": "{{ options.who }}"},
                    "content": "{{ data.headers['X-Who'] }}",
                },
            ),
        )
        assert command.status_code == 201, command.text
        path = f"/v1/bots/{bot_id}/commands/{command.json()['id']}/test"
        ran = await api.post(path, json={"options": {"who": "snow \u2603"}})
        assert ran.status_code == 200, ran.text
        assert ran.json()["outcome"] == "error"
        assert "X-Who" in ran.json()["error"], ran.json()
        # Latin-1 goes out as one byte; the peer echoes it back as a JSON "\udceb" (a lone
        # surrogate), which used to break the reply itself (no answer: a 504).
        ran = await api.post(path, json={"options": {"who": "Zo\u00eb"}})
        assert ran.status_code == 200, ran.text
        assert ran.json()["outcome"] == "ok", ran.json()
        assert ran.json()["content"].startswith("Zo"), ran.json()
