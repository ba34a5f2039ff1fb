"""The account: linking providers, settings, display name, deletion with purges."""

from __future__ import annotations

import uuid

import httpx
import orjson

from proto.system import PURGE_SPECS, PurgeResult, PurgeUser
from tests.fixtures.auth import link, sign_in
from tests.fixtures.infra import apoll


async def test_link_google_to_a_discord_user_then_sign_in_with_either(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    google_person = await sandbox.control.create_user("alice-g", email="alice-g@example.test")
    linked = await link(stack.url, sandbox, alice, provider="google", person=google_person)
    assert linked.status_code == 200, linked.text
    providers = {i["provider"] for i in linked.json()["user"]["identities"]}
    assert providers == {"discord", "google"}
    via_google = await sign_in(stack.url, sandbox, provider="google", person=google_person)
    assert via_google.user_id == alice.user_id


async def test_an_identity_never_maps_to_two_users(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    bob = await sign_in(stack.url, sandbox, provider="google")
    # Bob tries to link Alice's Discord identity to his account.
    taken = await link(stack.url, sandbox, bob, provider="discord", person=alice.sandbox_user)
    assert taken.status_code == 409
    assert "already linked to another" in taken.json()["error"]["message"]
    # And Alice still signs in to her own account with it.
    again = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    assert again.user_id == alice.user_id


async def test_linking_needs_a_signed_in_user(stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as api:
        response = await api.get("/v1/auth/google/login", params={"link": "true"})
    assert response.status_code == 401


async def test_settings_round_trip_and_size_limit(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        assert (await api.get("/v1/me/settings")).json() == {"settings": {}}
        doc = {"theme": "dark", "tz": "Europe/Paris", "nested": {"a": [1, 2, 3]}}
        put = await api.put("/v1/me/settings", json={"settings": doc})
        assert put.status_code == 200
        assert (await api.get("/v1/me/settings")).json()["settings"] == doc
        big = {"blob": "x" * (64 * 1024)}
        too_big = await api.put("/v1/me/settings", json={"settings": big})
        assert too_big.status_code == 413
        assert "limit is 65536 bytes" in too_big.json()["error"]["message"]
        assert (await api.get("/v1/me/settings")).json()["settings"] == doc
        bad = await api.put("/v1/me/settings", json={"settings": [1, 2]})
        assert bad.status_code == 422


async def test_display_name_update_and_validation(stack, sandbox) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        ok = await api.patch("/v1/me", json={"display_name": "  Alice   Liddell "})
        assert ok.status_code == 200
        assert ok.json()["display_name"] == "Alice Liddell"
        empty = await api.patch("/v1/me", json={"display_name": "   "})
        assert empty.status_code == 422
        assert empty.json()["error"]["fields"][0]["loc"] == ["display_name"]
        assert (await api.get("/v1/me")).json()["display_name"] == "Alice Liddell"


async def test_delete_account_asks_every_service_to_purge(stack, sandbox, nc) -> None:
    alice = await sign_in(stack.url, sandbox)
    seen: dict[str, list[str]] = {}

    async def responder(msg) -> None:
        service = msg.subject.split(".")[1]
        request = PurgeUser.model_validate_json(msg.data)
        seen.setdefault(service, []).append(str(request.user_id))
        await msg.respond(PurgeResult(service=service, removed=3).model_dump_json().encode())

    subs = [await nc.subscribe(spec.subject, cb=responder) for spec in PURGE_SPECS]
    await nc.flush()
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
            deleted = await api.delete("/v1/me")
            assert deleted.status_code == 200, deleted.text
            body = deleted.json()
            assert body["pending"] == []
            assert {p["service"] for p in body["purged"] if p["ok"]} == {
                "bot",
                "command",
                "storage",
                "log",
            }
            assert (await api.get("/v1/me")).status_code == 401
    finally:
        for sub in subs:
            await sub.unsubscribe()
    assert seen == {s: [str(alice.user_id)] for s in ("bot", "command", "storage", "log")}
    # Signing in with the same Discord identity makes a brand-new account.
    again = await sign_in(stack.url, sandbox, person=alice.sandbox_user)
    assert again.user_id != alice.user_id


async def test_delete_account_retries_services_that_are_down(stack, sandbox, nc) -> None:
    alice = await sign_in(stack.url, sandbox)
    async with httpx.AsyncClient(base_url=stack.url, headers=alice.headers) as api:
        deleted = await api.delete("/v1/me")
    assert deleted.status_code == 200
    assert sorted(deleted.json()["pending"]) == ["bot", "command", "log", "storage"]
    assert all("not available" in p["error"] for p in deleted.json()["purged"])

    # The bot service comes back: the background retry reaches it.
    got: list[str] = []

    async def responder(msg) -> None:
        got.append(str(PurgeUser.model_validate_json(msg.data).user_id))
        await msg.respond(PurgeResult(service="bot", removed=0).model_dump_json().encode())

    sub = await nc.subscribe("rpc.bot.user.purge", cb=responder)
    try:
        await apoll(lambda: str(alice.user_id) in got, timeout_s=10, what="purge retried")
    finally:
        await sub.unsubscribe()


async def test_delete_is_idempotent_over_rpc(stack, sandbox, nc) -> None:
    alice = await sign_in(stack.url, sandbox)
    headers = {"bc-user-id": str(alice.user_id)}
    for _ in range(2):
        reply = await nc.request("rpc.auth.me.delete", b"{}", timeout=20, headers=headers)
        assert reply.headers is None or reply.headers.get("bc-status") != "error", reply.data
        assert orjson.loads(reply.data)["deleted"] is True
    unknown = {"bc-user-id": str(uuid.uuid4())}
    reply = await nc.request("rpc.auth.me.delete", b"{}", timeout=20, headers=unknown)
    assert orjson.loads(reply.data)["deleted"] is True
