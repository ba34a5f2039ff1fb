"""What a running service has at hand: settings, bus, database, vault, events, hooks."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from proto.registry import RpcSpec
from services.bus.events import EventPublisher
from services.bus.rpc import Handler, RpcClient, RpcServer
from services.bus.types import JetStream, NatsClient
from services.db.engine import Database
from services.keys import EncryptedColumn
from services.outbox import Outbox, OutboxRelay
from services.settings import ServiceSettings
from services.vault import Vault

if TYPE_CHECKING:
    from starlette.types import ASGIApp

log = logging.getLogger(__name__)

StopHook = Callable[[], Awaitable[None]]
ReadyCheck = Callable[[], Awaitable[bool]]
# One row of a service's routing table: the subject it answers and the handler that does.
Route = tuple[RpcSpec[Any, Any], Handler]
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class ServiceDefinition:
    """How to build one service; each service package exports one as `SERVICE`, e.g.
    `SERVICE = ServiceDefinition("bot", Settings, setup, encrypted_columns=[TOKEN_COLUMN])`.

    Found by the `botcenter` CLI through the `botcenter.services` entry-point group, so
    the kernel never imports a service. What the template fixes is not repeated: the
    version is the service package's `__version__`, and its migrations are the package's
    `migrations/` folder (a service without one has no database).
    """

    name: str
    settings_cls: type[ServiceSettings]
    setup: Callable[[ServiceRuntime], Awaitable[None]]
    _: KW_ONLY
    # Vault-sealed columns, re-encrypted by `botcenter keys rotate`; a service that has
    # some gets the vault (`uses_vault`).
    encrypted_columns: list[EncryptedColumn] = field(default_factory=list)
    # Services that serve HTTP themselves (gateway, log-service) build their ASGI app here;
    # the kernel adds /healthz, /readyz and /metrics to it.
    http_app: Callable[[ServiceRuntime], ASGIApp] | None = None
    # The service has an outbox table (`services.outbox.outbox_table` in a migration): the
    # runtime gets an `Outbox` and runs its relay.
    outbox: bool = False
    version: str = field(init=False)
    migrations: Path | None = field(init=False)

    def __post_init__(self) -> None:
        package = sys.modules[self.setup.__module__.partition(".")[0]]
        self.version = str(package.__version__)
        folder = Path(str(package.__file__)).parent / "migrations"
        self.migrations = folder if folder.is_dir() else None
        if self.outbox and self.migrations is None:
            raise ValueError(f"{self.name}: an outbox needs a database (migrations/)")

    @property
    def uses_vault(self) -> bool:
        return bool(self.encrypted_columns)


@dataclass
class ServiceRuntime:
    definition: ServiceDefinition
    settings: ServiceSettings
    nc: NatsClient
    js: JetStream
    rpc: RpcServer
    client: RpcClient
    events: EventPublisher
    db: Database | None = None
    vault: Vault | None = None
    # The service's outbox (its definition says `outbox=True`): `add` in the service layer.
    outbox: Outbox | None = None
    started_at: float = field(default_factory=time.monotonic)
    stopping: bool = False
    _stop_hooks: list[StopHook] = field(default_factory=list)
    _ready_checks: list[tuple[str, ReadyCheck]] = field(default_factory=list)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Where this replica serves HTTP and /metrics, once the runner is listening (the
    # metrics URL stays None when /metrics is on the HTTP port).
    http_url: str | None = None
    metrics_url: str | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    # Every service's setup opens with these: the runtime holds the kernel's types, the
    # service needs its own settings class and the resources its definition asked for.
    def settings_as(self, cls: type[SettingsT]) -> SettingsT:
        """The settings, built by the runner from `definition.settings_cls`."""
        if not isinstance(self.settings, cls):
            raise TypeError(f"{self.name} settings are {type(self.settings).__name__}")
        return self.settings

    def require_db(self) -> Database:
        """The database, opened by the runner when the definition has migrations."""
        if self.db is None:
            raise RuntimeError(f"{self.name} has no database (its definition has no migrations)")
        return self.db

    def require_vault(self) -> Vault:
        """The vault, opened by the runner when the definition says `uses_vault`."""
        if self.vault is None:
            raise RuntimeError(
                f"{self.name} has no vault (its definition has no encrypted_columns)"
            )
        return self.vault

    def require_outbox(self) -> Outbox:
        """The outbox, made by the runner when the definition says `outbox=True`."""
        if self.outbox is None:
            raise RuntimeError(f"{self.name} has no outbox (its definition has outbox=False)")
        return self.outbox

    def start_outbox_relay(self, **options: Any) -> OutboxRelay | None:
        """Run the outbox's relay in the background (the runner does, after setup); rows
        left by a previous process go out at once. None for a service without an outbox."""
        if self.outbox is None:
            return None
        relay = OutboxRelay(self.require_db(), self.js, self.outbox, **options)
        self.spawn(relay.run(), name=f"{self.name}-outbox-relay")
        return relay

    def on_stop(self, hook: StopHook) -> None:
        """Run at shutdown, after RPCs drained; hooks run last-registered first."""
        self._stop_hooks.append(hook)

    def ready_check(self, name: str, check: ReadyCheck) -> None:
        self._ready_checks.append((name, check))

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """A background task that is cancelled at shutdown and whose crash is logged."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None and not self.stopping:
                log.error("background task %s crashed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def readiness(self) -> dict[str, bool]:
        checks: dict[str, bool] = {"nats": self.nc.is_connected}
        if self.db is not None:
            checks["database"] = await self.db.ping()
        for name, check in self._ready_checks:
            try:
                checks[name] = await check()
            except Exception:
                checks[name] = False
        if self.stopping:
            checks["draining"] = False
        return checks

    async def run_stop_hooks(self) -> None:
        for hook in reversed(self._stop_hooks):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
