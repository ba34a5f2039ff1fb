"""Benchmark: what teams (#17) cost per request, and how fast a removal reaches every replica.

Stack: embedded PostgreSQL and NATS, the discord-sandbox, auth-service, bot-service, three
gateway replicas and three log-service replicas (as `make run` starts them); people sign
in through the real OAuth flow.

1. Permission-check overhead, p50 per request, in one run (the two sides take turns call
   by call, so other load on this shared machine hits both alike). "Without teams" is the
   path every request took before #17: a bot of the caller's personal workspace, asked with
   only `bc-user-id` (the kernel builds the personal owner grant, no header to decode).
   "With teams" is a bot of a team workspace, asked by a member whose `bc-access` header
   lists their grants (personal + the team + `EXTRA_TEAMS` more, so the header is not the
   trivial one): the service decodes it (LRU), sets the RLS scope from it and checks
   `bots.view`.
   - `service_*`: `rpc.bot.get` over NATS straight to bot-service (the services' share).
   - `gateway_*`: `GET /v1/bots/{id}` through the gateway, personal bot of its owner vs team
     bot of a member (both are in several workspaces): the gateway resolves the caller's
     cached snapshot and builds the header, then the same service work (the gateway's share
     plus the services'). Only the service side has a "no header at all" path to compare.
   - `in_process_us`: the pure-Python pieces alone (decode through the LRU, `require`,
     the scope values), per request.
   Target: overhead (with - without) ≤ 0.3 ms at p50.
2. Revocation propagation: a viewer reads the team on each of the 3 gateways (so each has
   their access cached) and holds a live stream open on each of the 3 log-services; the
   owner removes them; we time from the removal's 204 until every gateway answers 404 and
   every stream has closed with 4403 (polling every ~2 ms). The viewer is invited back
   between trials. Target: p99 ≤ 1 s over `TRIALS` trials.

    python -m bench authz          # via the runner, writes bench/results/authz.json
    python bench/authz.py [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import timeit
import uuid
from typing import Any

import httpx

ROUNDS = 5
CALLS_PER_ROUND = 400
EXTRA_TEAMS = 8
TRIALS = 40
REPLICAS = 3


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(_p(values, 0.99) * 1000, 3),
        "n": len(values),
    }


async def _timed(call: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        out.append(time.perf_counter() - t0)
    return out


async def _rounds(sides: dict[str, Any]) -> dict[str, list[float]]:
    """Sequential calls, the sides taking turns call by call (after a warm-up each): a
    burst of other load on this shared machine then hits both sides alike."""
    for call in sides.values():
        await _timed(call, 50)
    got: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(ROUNDS * CALLS_PER_ROUND):
        for name, call in sides.items():
            got[name] += await _timed(call, 1)
    return got


def _in_process(header: str, ws: uuid.UUID, bot: uuid.UUID) -> dict[str, float]:
    from services.access import AccessCache, legacy_access, require
    from services.db.engine import scope_settings

    cache = AccessCache()
    user = uuid.uuid4()
    n = 20000

    def teams() -> None:
        access = cache.decode(header)
        scope_settings(access)
        require(access, "bots.view", ws, bot)

    def personal() -> None:
        access = legacy_access(user)
        scope_settings(access)
        require(access, "bots.view", user, bot)

    def cold() -> None:
        AccessCache().decode(header)

    return {
        "with_teams_us": round(min(timeit.repeat(teams, number=n, repeat=5)) / n * 1e6, 2),
        "without_teams_us": round(min(timeit.repeat(personal, number=n, repeat=5)) / n * 1e6, 2),
        "decode_uncached_us": round(
            min(timeit.repeat(cold, number=2000, repeat=3)) / 2000 * 1e6, 2
        ),
        "header_bytes": len(header),
    }


class World:
    def __init__(self, urls: list[str], logs: list[str], sandbox: Any) -> None:
        self.urls, self.logs, self.sandbox = urls, logs, sandbox

    async def ok(self, url: str, headers: dict[str, str], method: str, path: str, **kw: Any) -> Any:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            r = await api.request(method, path, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def people(self, prefix: str, name: str) -> tuple[Any, Any, str]:
        """An owner, another person (not a member yet) and the owner's team `name`."""
        from tests.fixtures.auth import sign_in

        owner = await sign_in(self.urls[0], self.sandbox, username=f"{prefix}-owner")
        other = await sign_in(self.urls[0], self.sandbox, username=f"{prefix}-member")
        made = await self.ok(
            self.urls[0], owner.headers, "POST", "/v1/workspaces", json={"name": name}
        )
        return owner, other, str(made["id"])

    async def join(self, owner: Any, member: Any, ws: str) -> None:
        """`member` joins `ws` as a viewer through a link `owner` made."""
        link = await self.ok(
            self.urls[0], owner.headers, "POST", f"/v1/workspaces/{ws}/invitations",
            json={"role": "viewer"},
        )  # fmt: skip
        await self.ok(
            self.urls[0], member.headers, "POST", f"/v1/invitations/{link['token']}/accept"
        )

    async def sees_everywhere(self, headers: dict[str, str], ws: str, want: int) -> None:
        async with httpx.AsyncClient(headers=headers, timeout=30) as api:
            give_up = time.monotonic() + 10
            while True:
                codes = [(await api.get(f"{u}/v1/workspaces/{ws}")).status_code for u in self.urls]
                if all(c == want for c in codes):
                    return
                assert time.monotonic() < give_up, codes
                await asyncio.sleep(0.01)


async def _overhead(world: World, nc_url: str) -> dict[str, Any]:
    from proto import bots as P
    from proto.access import ALL_PERMISSIONS_MASK, Access, Grant, permission_mask
    from services.bus.rpc import RpcClient

    url = world.urls[0]
    owner, member, team = await world.people("authz", "Bench team")
    for i in range(EXTRA_TEAMS):  # the member belongs to several teams, as people do
        extra = (
            await world.ok(
                url, owner.headers, "POST", "/v1/workspaces", json={"name": f"Other {i}"}
            )
        )["id"]
        await world.join(owner, member, extra)
    await world.join(owner, member, team)
    await world.sees_everywhere(member.headers, team, 200)

    async def bot_in(ws: str | None) -> str:
        app = await world.sandbox.control.create_application(f"B{uuid.uuid4().hex[:6]}")
        body: dict[str, Any] = {"token": app.token}
        if ws:
            body["workspace_id"] = ws
        return str((await world.ok(url, owner.headers, "POST", "/v1/bots", json=body))["id"])

    personal_bot, team_bot = await bot_in(None), await bot_in(team)

    # The member's header as the gateway builds it (one grant per workspace).
    snapshot = await world.ok(url, member.headers, "GET", "/v1/me")
    grants = [
        Grant(
            workspace_id=uuid.UUID(w["id"]),
            role=w["role"],
            permissions=ALL_PERMISSIONS_MASK
            if w["personal"]
            else permission_mask(w["permissions"]),
            bot_ids=[uuid.UUID(b) for b in w["bot_ids"]],
        )
        for w in snapshot["workspaces"]
    ]
    access = Access(user_id=member.user_id, grants=grants)
    header = access.encode()

    import nats

    nc = await nats.connect(nc_url)
    rpc = RpcClient(nc, "gateway", timeout_s=10.0)
    try:
        service = await _rounds(
            {
                "without_teams": lambda: rpc.call(
                    P.GET_BOT, P.BotRef(bot_id=uuid.UUID(personal_bot)), user_id=owner.user_id
                ),
                "with_teams": lambda: rpc.call(
                    P.GET_BOT, P.BotRef(bot_id=uuid.UUID(team_bot)), access=header
                ),
            }
        )
    finally:
        await nc.close()
    async with (
        httpx.AsyncClient(base_url=url, headers=owner.headers) as own,
        httpx.AsyncClient(base_url=url, headers=member.headers) as mem,
    ):

        async def get(api: httpx.AsyncClient, bot: str) -> None:
            r = await api.get(f"/v1/bots/{bot}")
            assert r.status_code == 200, r.text

        gateway = await _rounds(
            {
                "without_teams": lambda: get(own, personal_bot),
                "with_teams": lambda: get(mem, team_bot),
            }
        )
    out: dict[str, Any] = {}
    for where, got in (("service", service), ("gateway", gateway)):
        without, with_ = _ms(got["without_teams"]), _ms(got["with_teams"])
        out[f"{where}_without_teams"] = without
        out[f"{where}_with_teams"] = with_
        out[f"{where}_overhead_p50_ms"] = round(with_["p50_ms"] - without["p50_ms"], 3)
    out["in_process_us"] = _in_process(header, uuid.UUID(team), uuid.UUID(team_bot))
    out["member_workspaces"] = len(grants)
    return out


async def _revocation(world: World, trials: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from tests.fixtures.logs import close_code, next_frame

    url = world.urls[0]
    owner, viewer, team = await world.people("rev", "Revocation")
    gateway_s: list[float] = []
    stream_s: list[float] = []
    total_s: list[float] = []
    codes: set[int] = set()
    async with httpx.AsyncClient(headers=viewer.headers, timeout=10) as api:
        for _ in range(trials):
            await world.join(owner, viewer, team)
            await world.sees_everywhere(viewer.headers, team, 200)
            streams = []
            for log in world.logs:  # one stream on each log-service replica
                ws = await connect(
                    log,
                    subprotocols=[
                        "botcenter.v1",  # type: ignore[list-item]
                        f"bearer.{viewer.access_token}",
                    ],
                    compression=None,
                )
                hello = await next_frame(ws)
                assert team in hello.get("workspace_ids", []), hello
                streams.append(ws)

            removed = await world.ok(
                url, owner.headers, "DELETE", f"/v1/workspaces/{team}/members/{viewer.user_id}"
            )
            assert removed is None
            t0 = time.perf_counter()

            async def refused(u: str, t0: float = t0) -> float:
                while (await api.get(f"{u}/v1/workspaces/{team}")).status_code != 404:
                    await asyncio.sleep(0.002)
                return time.perf_counter() - t0

            async def closed(ws: Any, t0: float = t0) -> float:
                code, _ = await close_code(ws, timeout_s=10)
                codes.add(code)
                return time.perf_counter() - t0

            got = await asyncio.gather(
                *(refused(u) for u in world.urls), *(closed(s) for s in streams)
            )
            gateway_s.append(max(got[: len(world.urls)]))
            stream_s.append(max(got[len(world.urls) :]))
            total_s.append(max(got))
    return {
        "trials": trials,
        "gateways_refuse": _ms(gateway_s),
        "streams_closed": _ms(stream_s),
        "every_replica": _ms(total_s),
        # Each trial's time, slowest first: whether the tail is one trial or a pattern.
        "slowest_trials_ms": [round(t * 1000, 1) for t in sorted(total_s, reverse=True)[:5]],
        "stream_close_codes": sorted(codes),
    }


def main(trials: int = TRIALS) -> dict[str, object]:
    import uvloop

    from bench._auth_stack import AuthStack
    from tests.fixtures.logs import stream_url

    stack = AuthStack("bc-bench-authz-")
    stack.start(GATEWAY_RATE_LOGIN_BURST="10000", GATEWAY_RATE_LOGIN_PER_MIN="100000")
    try:
        assert stack.sandbox is not None
        stack.procs.append(stack.service("bot", DISCORD_BASE_URL=stack.sandbox.base_url))
        gateways = [stack.service("gateway", GATEWAY_HTTP_PORT="0") for _ in range(REPLICAS)]
        logs = [stack.service("log") for _ in range(REPLICAS)]
        stack.procs += gateways + logs
        urls = [g.url for g in gateways]
        assert all(urls)
        log_urls = [uvloop.run(stream_url(str(p.url))) for p in logs]
        world = World([str(u) for u in urls], log_urls, stack.sandbox)
        figures: dict[str, object] = {}
        figures["overhead"] = uvloop.run(_overhead(world, stack.infra.admin_nats_url))
        figures["revocation"] = uvloop.run(_revocation(world, trials))
        overhead: dict[str, Any] = figures["overhead"]  # type: ignore[assignment]
        revocation: dict[str, Any] = figures["revocation"]  # type: ignore[assignment]
        figures["targets"] = {
            "service_overhead_p50_le_0.3ms": overhead["service_overhead_p50_ms"] <= 0.3,
            "gateway_overhead_p50_le_0.3ms": overhead["gateway_overhead_p50_ms"] <= 0.3,
            "revocation_p99_le_1s": revocation["every_replica"]["p99_ms"] <= 1000,
        }
        # On a shared 2-core machine the p50 differences move with other load: say how busy.
        figures["load_average"] = {
            "before": stack.load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(figures, indent=1))
        return figures
    finally:
        stack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=TRIALS)
    main(parser.parse_args().trials)
