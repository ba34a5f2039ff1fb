"""`botcenter`: run the stack, one service, migrations, keys, the audit trail's check, or the
Discord sandbox."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from services.settings import KernelSettings, Mode, dev_secrets, store_dev_secrets
from services.vault import format_keyring, new_key, parse_keyring


def _settings() -> KernelSettings:
    return KernelSettings()


def _database_url(settings: KernelSettings) -> str | None:
    """The admin/owner URL the database commands need, or None, said on stderr."""
    if not settings.database_url:
        print("DATABASE_URL must name the database (an admin/owner login)", file=sys.stderr)
        return None
    return settings.database_url


def cmd_up(args: argparse.Namespace) -> int:
    from services.devstack.stack import run_stack

    settings = _settings()
    run_stack(
        settings.data_dir.resolve(),
        gateway_port=args.port,
        sandbox_port=args.sandbox_port,
        progress=lambda line: print(line, flush=True),
    )
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from services.installed import service_definitions
    from services.runner import run

    defs = service_definitions()
    if args.name not in defs:
        print(f"unknown service {args.name!r}; installed: {', '.join(defs)}", file=sys.stderr)
        return 2
    run(defs[args.name])
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    import shlex

    from services.devstack.stack import running_env

    settings = _settings()
    try:
        env = running_env(settings.data_dir.resolve(), args.name)
    except FileNotFoundError:
        print("botcenter is not running here (start it with `make run`)", file=sys.stderr)
        return 2
    except KeyError:
        print(f"unknown service {args.name!r}", file=sys.stderr)
        return 2
    for key, value in sorted(env.items()):
        print(f"export {key}={shlex.quote(value)}")
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    from services.installed import migrate_all

    settings = _settings()
    database_url = _database_url(settings)
    if database_url is None:
        return 2
    password = settings.db_role_password.get_secret_value() if settings.db_role_password else None
    if password is None:
        if settings.mode is Mode.PRODUCTION:
            print("DB_ROLE_PASSWORD must be set in production", file=sys.stderr)
            return 2
        password = str(dev_secrets(settings.data_dir)["db_role_password"])
    asyncio.run(migrate_all(database_url, password))
    print("migrations applied")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.action == "generate":
        if settings.vault_keys is not None:
            keys = parse_keyring(settings.vault_keys.get_secret_value())
        elif settings.mode is Mode.DEVELOPMENT:
            keys = parse_keyring(str(dev_secrets(settings.data_dir)["vault_keys"]))
        else:
            keys = {}
        keys[max(keys, default=0) + 1] = new_key()
        spec = format_keyring(keys)
        if args.write and settings.mode is Mode.DEVELOPMENT:
            data = dev_secrets(settings.data_dir)
            data["vault_keys"] = spec
            store_dev_secrets(settings.data_dir, data)
            print(
                f"added key {max(keys)} to {settings.data_dir / 'secrets.json'}; restart services"
            )
        else:
            # The operator puts this into VAULT_KEYS (a Kubernetes Secret); printed on request only.
            print(spec)
        return 0
    if args.action == "retire":
        return _retire_signing_key(settings, args.kid)
    # rotate: re-encrypt every stored secret with the newest key.
    from services.installed import service_definitions
    from services.keys import rotate_all

    columns = [c for d in service_definitions().values() for c in d.encrypted_columns]
    count = asyncio.run(rotate_all(settings, columns))
    print(f"re-encrypted {count} value(s) with the newest key")
    return 0


def _retire_signing_key(settings: KernelSettings, kid: str | None) -> int:
    from services.devstack.stack import operator_nats_url
    from services.errors import RpcError
    from services.keys import retire_signing_key

    if not kid:
        print("name the signing key: botcenter keys retire KID (or `current`)", file=sys.stderr)
        return 2
    try:
        done = asyncio.run(retire_signing_key(operator_nats_url(settings), kid))
    except RpcError as err:
        print(f"not retired: {err.message}", file=sys.stderr)
        return 1
    print(
        f"retired signing key {done.kid}: its tokens are refused from now on "
        f"(signed-in users refresh or sign in again); key {done.signing_kid} signs"
    )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from uuid import UUID

    database_url = _database_url(_settings())
    if database_url is None:
        return 2
    if (args.workspace is None) == (not args.all):
        print("name one workspace (--workspace W) or ask for --all", file=sys.stderr)
        return 2
    try:
        workspace = UUID(args.workspace) if args.workspace else None
    except ValueError:
        print(f"not a workspace id: {args.workspace!r}", file=sys.stderr)
        return 2
    results = asyncio.run(verify_audit(database_url, workspace))
    for _, line in results:
        print(line)
    return 0 if all(ok for ok, _ in results) else 1


async def verify_audit(database_url: str, workspace: object | None) -> list[tuple[bool, str]]:
    """(ok, line) per workspace: each chain recomputed from its checkpoint (or genesis),
    in one read-only snapshot, independent of log-service. A chain is broken at the first
    row whose `seq` skips, whose `prev_hash` does not link, or whose hash does not match
    its content, and when the head does not name the last row."""
    import asyncpg
    import orjson

    from services.audit import GENESIS, chain_hash
    from services.db.engine import plain_url

    conn = await asyncpg.connect(plain_url(database_url))
    results: list[tuple[bool, str]] = []
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):
            if workspace is None:
                found = await conn.fetch(
                    "select workspace_id from log.audit_heads union"
                    " select distinct workspace_id from log.audit_events order by 1"
                )
                workspaces = [r[0] for r in found]
            else:
                workspaces = [workspace]
            for ws in workspaces:
                checkpoint = await conn.fetchrow(
                    "select seq, hash from log.audit_checkpoints where workspace_id = $1", ws
                )
                seq = checkpoint["seq"] + 1 if checkpoint else 1
                prev = bytes(checkpoint["hash"]) if checkpoint else GENESIS
                broken: str | None = None
                rows = 0
                async for row in conn.cursor(
                    "select * from log.audit_events where workspace_id = $1 order by seq", ws
                ):
                    fields = dict(row)
                    fields["changes"] = orjson.loads(fields["changes"] or "{}")
                    if row["seq"] != seq:
                        reason = f"expected seq {seq} (a row is missing or out of place)"
                    elif bytes(row["prev_hash"]) != prev:
                        reason = "prev_hash does not link to the previous row"
                    elif chain_hash(prev, fields) != bytes(row["hash"]):
                        reason = "the hash does not match the row's content (edited)"
                    else:
                        prev, seq, rows = bytes(row["hash"]), seq + 1, rows + 1
                        continue
                    broken = f"BROKEN {ws} at seq {row['seq']} id {row['id']}: {reason}"
                    break
                if broken is None:
                    head = await conn.fetchrow(
                        "select seq, hash from log.audit_heads where workspace_id = $1", ws
                    )
                    if head is not None and (head["seq"] != seq - 1 or bytes(head["hash"]) != prev):
                        broken = (
                            f"BROKEN {ws} at seq {head['seq']} id -: the head does not name "
                            f"the last row (seq {seq - 1})"
                        )
                results.append(
                    (False, broken) if broken else (True, f"OK {ws} {rows} rows head {prev.hex()}")
                )
    finally:
        await conn.close()
    return results


def cmd_sandbox(args: argparse.Namespace) -> int:
    argv = [sys.executable, "-m", "discord_sandbox", *args.rest]
    os.execv(sys.executable, argv)  # noqa: S606 - replaces this process on purpose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="botcenter", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole product on embedded defaults")
    up.add_argument("--port", type=int, default=int(os.environ.get("GATEWAY_HTTP_PORT", 8000)))
    up.add_argument("--sandbox-port", type=int, default=int(os.environ.get("SANDBOX_PORT", 8790)))
    up.set_defaults(fn=cmd_up)

    svc = sub.add_parser("service", help="run one service in the foreground")
    svc.add_argument("name")
    svc.set_defaults(fn=cmd_service)

    env = sub.add_parser(
        "env", help="print the environment `botcenter up` gives a service (shell exports)"
    )
    env.add_argument("name")
    env.set_defaults(fn=cmd_env)

    mig = sub.add_parser("migrate", help="create roles and schemas, apply every migration")
    mig.set_defaults(fn=cmd_migrate)

    keys = sub.add_parser(
        "keys",
        help="vault keys: generate a new one, or rotate data to it; "
        "retire KID: stop trusting a (leaked) JWT signing key at once",
    )
    keys.add_argument("action", choices=["generate", "rotate", "retire"])
    keys.add_argument(
        "kid", nargs="?", help="retire: the signing key id (`kid` in a token), or `current`"
    )
    keys.add_argument("--write", action="store_true", help="development: store the new keyring")
    keys.set_defaults(fn=cmd_keys)

    aud = sub.add_parser(
        "audit", help="audit trail: verify recomputes each workspace's hash chain (read-only)"
    )
    aud.add_argument("action", choices=["verify"])
    aud.add_argument("--workspace", help="the workspace id whose chain to verify")
    aud.add_argument("--all", action="store_true", help="verify every workspace's chain")
    aud.set_defaults(fn=cmd_audit)

    sb = sub.add_parser("sandbox", help="run the discord-sandbox alone")
    sb.add_argument("rest", nargs=argparse.REMAINDER)
    sb.set_defaults(fn=cmd_sandbox)

    args = parser.parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
