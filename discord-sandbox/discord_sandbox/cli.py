"""`python -m discord_sandbox` / `discord-sandbox` / `botcenter sandbox`: run the sandbox until
SIGINT/SIGTERM.

Every option can also come from the environment (`SANDBOX_<OPTION>`, e.g. `SANDBOX_PORT=0`,
`SANDBOX_TLS=1`, `SANDBOX_SET="identify_window_s=0.25 heartbeat_interval_ms=1000"`); a command
line option wins over its variable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .app import SandboxServer
from .config import ServerConfig, Tunables

ENV_PREFIX = "SANDBOX_"
_TRUE = ("1", "true", "yes", "on")


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _parse_setting(text: str) -> tuple[str, Any]:
    """`name=value` for any run-time setting; the value is JSON when it parses as JSON (numbers,
    `{"limit": 5, "window_s": 1}` for rate limits), else a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    env = os.environ if environ is None else environ
    defaults = Tunables()

    def default(name: str, fallback: Any) -> Any:
        value = _env(env, name)
        return fallback if value is None else value

    parser = argparse.ArgumentParser(
        prog="discord-sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=default("HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(default("PORT", 8790)), help="0 picks a free port"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=str(default("TLS", "")).lower() in _TRUE,
        help="serve https/wss with a self-signed certificate",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=default("CERT_DIR", None),
        help="where the TLS certificate is kept (default .botcenter/sandbox-tls)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=default("STATE", None),
        help="JSON snapshot file to load and keep",
    )
    parser.add_argument(
        "--public-url",
        default=default("PUBLIC_URL", None),
        help="base URL clients use, if not http(s)://host:port",
    )
    parser.add_argument(
        "--heartbeat-interval-ms",
        type=int,
        default=int(default("HEARTBEAT_INTERVAL_MS", defaults.heartbeat_interval_ms)),
    )
    parser.add_argument(
        "--identify-window-s",
        type=float,
        default=float(default("IDENTIFY_WINDOW_S", defaults.identify_window_s)),
    )
    parser.add_argument(
        "--identify-limit-mode",
        choices=("enforce", "count"),
        default=default("IDENTIFY_LIMIT_MODE", defaults.identify_limit_mode),
    )
    parser.add_argument(
        "--interaction-callback-timeout-s",
        type=float,
        default=float(
            default("INTERACTION_CALLBACK_TIMEOUT_S", defaults.interaction_callback_timeout_s)
        ),
    )
    parser.add_argument(
        "--set",
        dest="settings",
        metavar="NAME=VALUE",
        type=_parse_setting,
        action="append",
        default=[_parse_setting(item) for item in shlex.split(default("SET", ""))],
        help="any run-time setting of PATCH /_sandbox/config (repeatable), e.g. "
        '--set resume_window_s=30 --set \'message_create_limit={"limit": 5, "window_s": 5}\'',
    )
    parser.add_argument("--log-level", default=default("LOG_LEVEL", "WARNING"))
    return parser


def parse_args(argv: list[str] | None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    return _parse(argv, environ)[0]


def _parse(argv: list[str] | None, environ: Mapping[str, str] | None) -> tuple[ServerConfig, str]:
    """(config, log level)."""
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    tunables = Tunables(
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        identify_window_s=args.identify_window_s,
        identify_limit_mode=args.identify_limit_mode,
        interaction_callback_timeout_s=args.interaction_callback_timeout_s,
    )
    try:
        tunables.update(dict(args.settings))
    except ValueError as exc:
        parser.error(f"--set: {exc}")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        tls=args.tls,
        cert_dir=None if args.cert_dir is None else Path(args.cert_dir),
        state_file=None if args.state is None else Path(args.state),
        public_url=args.public_url,
        tunables=tunables,
    )
    return config, str(args.log_level)


async def serve(config: ServerConfig) -> None:
    server = SandboxServer(config)
    await server.start()
    print(f"discord-sandbox listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    config, log_level = _parse(argv, None)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        import uvloop
    except ImportError:  # uvloop is optional (e.g. on Windows)
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    sys.stdout.flush()
