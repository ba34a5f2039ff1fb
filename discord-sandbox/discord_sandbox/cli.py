"""`python -m discord_sandbox` / `discord-sandbox`: run the sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from .app import SandboxServer
from .config import ServerConfig, Tunables


def parse_args(argv: list[str] | None) -> ServerConfig:
    defaults = Tunables()
    parser = argparse.ArgumentParser(prog="discord-sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790, help="0 picks a free port")
    parser.add_argument(
        "--tls", action="store_true", help="serve https/wss with a self-signed certificate"
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        default=None,
        help="where the TLS certificate is kept (default .botcenter/sandbox-tls)",
    )
    parser.add_argument(
        "--state", type=Path, default=None, help="JSON snapshot file to load and keep"
    )
    parser.add_argument(
        "--public-url", default=None, help="base URL clients use, if not http(s)://host:port"
    )
    parser.add_argument("--heartbeat-interval-ms", type=int, default=defaults.heartbeat_interval_ms)
    parser.add_argument("--identify-window-s", type=float, default=defaults.identify_window_s)
    parser.add_argument(
        "--identify-limit-mode", choices=("enforce", "count"), default=defaults.identify_limit_mode
    )
    parser.add_argument(
        "--interaction-callback-timeout-s",
        type=float,
        default=defaults.interaction_callback_timeout_s,
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tunables = Tunables(
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        identify_window_s=args.identify_window_s,
        identify_limit_mode=args.identify_limit_mode,
        interaction_callback_timeout_s=args.interaction_callback_timeout_s,
    )
    return ServerConfig(
        host=args.host,
        port=args.port,
        tls=args.tls,
        cert_dir=args.cert_dir,
        state_file=args.state,
        public_url=args.public_url,
        tunables=tunables,
    )


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
    config = parse_args(argv)
    try:
        import uvloop
    except ImportError:  # uvloop is optional (e.g. on Windows)
        asyncio.run(serve(config))
    else:
        uvloop.run(serve(config))
    sys.stdout.flush()
