"""Outbound HTTP to third-party APIs, guarded against SSRF.

Every request (and every redirect hop) resolves the host first and refuses loopback,
private, link-local (cloud metadata 169.254.169.254 included), shared (CGNAT), multicast,
reserved and unspecified addresses, unless the URL's `host[:port]` is on the operator's
allow list. The connection then goes to the checked address itself (Host header and TLS
SNI keep the name), so a second DNS answer cannot swap in another address. Redirects are
followed by hand (at most `max_redirects`), responses are read up to `max_bytes`, and the
whole exchange has one deadline.

A connection's credentials belong to its origin (scheme, host, port): when a redirect
leads to another origin, every later hop goes without them — the Authorization,
Proxy-Authorization and Cookie headers, the headers the caller names as secret and the
secret query parameters are dropped (as browsers and curl do), while same-origin
redirects keep everything.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

import httpx

from proto.commands import header_value_problem

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_METADATA_NAMES = {"metadata.google.internal", "metadata", "instance-data"}
# Names that mean this machine without asking DNS (RFC 6761: *.localhost too).
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
_LOOPBACK = ipaddress.ip_address("127.0.0.1")

# The operator's allow list, as the operator writes it (command-service's settings).
ALLOW_SETTING = "COMMAND_OUTBOUND_ALLOW_HOSTS"


# Headers that carry credentials whoever set them: never sent to another origin.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class OutboundError(Exception):
    """A refused or failed outbound request. The message is safe to show the owner."""


@dataclass(frozen=True)
class Credentials:
    """Where a request carries its secrets: header names (any case) and query parameter
    names. They go to the request's own origin only, never across a redirect."""

    headers: frozenset[str] = frozenset()
    params: frozenset[str] = frozenset()

    @classmethod
    def of(cls, headers: Iterable[str] = (), params: Iterable[str] = ()) -> Credentials:
        return cls(frozenset(h.lower() for h in headers), frozenset(params))


Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """(scheme, host, port) of an absolute http(s) URL, default ports filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise OutboundError("the URL has an invalid port") from None
    return scheme, parts.hostname or "", port or (443 if scheme == "https" else 80)


def without_credentials(
    url: str, headers: dict[str, str], credentials: Credentials
) -> tuple[str, dict[str, str]]:
    """The URL and headers of a hop to another origin: credential headers and secret
    query parameters removed, everything else as it was."""
    drop = CREDENTIAL_HEADERS | credentials.headers
    kept = {k: v for k, v in headers.items() if k.lower() not in drop}
    parts = urlsplit(url)
    if not (parts.query and credentials.params):
        return url, kept
    query = "&".join(
        piece
        for piece in parts.query.split("&")
        if unquote_plus(piece.split("=", 1)[0]) not in credentials.params
    )
    return urlunsplit(parts._replace(query=query)), kept


def encode_headers(headers: dict[str, str]) -> dict[str, bytes]:
    """Header values as sent: Latin-1 bytes. A value that cannot be sent (a character
    beyond Latin-1, e.g. from a rendered template, or a control character) is an
    OutboundError naming the header."""
    out: dict[str, bytes] = {}
    for name, value in headers.items():
        problem = header_value_problem(value)
        if problem:
            raise OutboundError(f"the header {name} cannot be sent: it {problem}")
        out[name] = value.encode("latin-1")
    return out


@dataclass
class _Hop:
    """One request of an exchange; a redirect changes it for the next hop."""

    method: str
    url: str
    params: dict[str, str] | None
    headers: dict[str, str]
    content: bytes | None


@dataclass
class HttpResult:
    status: int
    headers: httpx.Headers
    body: bytes
    url: str
    duration_ms: float


def address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not reachable from commands, or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_refused(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            return address_refused(ip.sixtofour)
    if ip.is_loopback:
        return "this machine (a loopback address)"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private:
        return "a private network address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    return None


@dataclass
class Guard:
    """Which hosts are reachable. `allow` holds `host` or `host:port` entries (as written
    in URLs) that skip the address check — for local peers in tests or internal APIs."""

    allow: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_list(cls, items: Iterable[str]) -> Guard:
        return cls(frozenset(i.strip().lower() for i in items if i.strip()))

    def allowed(self, host: str, port: int) -> bool:
        host = host.lower()
        return host in self.allow or f"{host}:{port}" in self.allow

    def check(
        self,
        host: str,
        port: int,
        addrs: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address],
        *,
        resolved: bool,
    ) -> None:
        """The rule every outbound call and every saved URL passes: an OutboundError in
        plain words when `host:port` (with `addrs`, what it resolves or points to) may not
        be called — cloud metadata names always, an address that is not public unless the
        allow list names the host."""
        if host.lower().rstrip(".") in _METADATA_NAMES:
            raise OutboundError(f"requests to {host} are not allowed (cloud metadata)")
        if self.allowed(host, port):
            return
        for ip in addrs:
            why = address_refused(ip)
            if why is not None:
                where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                verb = "resolves to" if resolved else "points to"
                raise OutboundError(
                    f"requests to {where} are not allowed: it {verb} {why}; commands may only "
                    f"call public addresses unless the operator adds {where} to {ALLOW_SETTING}"
                )

    def check_url(self, url: str) -> None:
        """What can be told of a URL without asking DNS, as a connection is saved: a
        literal address or a name that always means this machine (`localhost`) is checked
        by `check`; any other name is resolved (and checked) when it is called."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundError("only http:// and https:// URLs can be called")
        host = parts.hostname
        _, _, port = origin(url)
        literal = _literal(host)
        name = host.lower().rstrip(".")
        if literal is not None:
            addrs = [literal]
        elif name in _LOCAL_NAMES or name.endswith(".localhost"):
            addrs = [_LOOPBACK]
        else:
            addrs = []
        self.check(host, port, addrs, resolved=False)

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to for host:port, or OutboundError."""
        if host.lower().rstrip(".") in _METADATA_NAMES:
            self.check(host, port, [], resolved=False)
        literal = _literal(host)
        if literal is not None:
            addrs = [literal]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror:
                raise OutboundError(f"the host {host} could not be resolved") from None
            addrs = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
            if not addrs:
                raise OutboundError(f"the host {host} could not be resolved")
        self.check(host, port, addrs, resolved=literal is None)
        return str(addrs[0])


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class Outbound:
    def __init__(
        self,
        guard: Guard,
        *,
        max_bytes: int = 1_000_000,
        max_redirects: int = 3,
        user_agent: str = "botcenter-commands/1",
    ) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        timeout_s: float = 10.0,
        credentials: Credentials | None = None,
    ) -> HttpResult:
        """One exchange, redirects followed. `credentials` names the headers and query
        parameters that hold secrets (beyond Authorization and Cookie, always treated so):
        a redirect to another origin drops them for the rest of the exchange."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                return await self._follow(
                    _Hop(method, url, params, headers or {}, content),
                    timeout_s,
                    started,
                    credentials or Credentials(),
                )
        except TimeoutError:
            raise OutboundError(f"the API did not answer within {timeout_s:g} s") from None

    async def _follow(
        self, hop: _Hop, timeout_s: float, started: float, credentials: Credentials
    ) -> HttpResult:
        home = origin(hop.url)
        away = False  # once the exchange left its origin, credentials stay behind
        for _ in range(self.max_redirects + 1):
            resp_status, resp_headers, body = await self._one(hop, timeout_s)
            if resp_status in (301, 302, 303, 307, 308) and "location" in resp_headers:
                hop.url = urljoin(hop.url, resp_headers["location"])
                hop.params = None
                if resp_status == 303 or (resp_status in (301, 302) and hop.method == "POST"):
                    hop.method, hop.content = "GET", None
                away = away or origin(hop.url) != home
                if away:
                    hop.url, hop.headers = without_credentials(hop.url, hop.headers, credentials)
                continue
            return HttpResult(
                resp_status, resp_headers, body, hop.url, (time.perf_counter() - started) * 1000
            )
        raise OutboundError(f"too many redirects (more than {self.max_redirects})")

    async def _one(self, hop: _Hop, timeout_s: float) -> tuple[int, httpx.Headers, bytes]:
        url = hop.url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundError("only http:// and https:// URLs can be called")
        host = parts.hostname
        _, _, port = origin(url)
        address = await self.guard.resolve(host, port)
        netloc_host = f"[{address}]" if ":" in address else address
        pinned = urlunsplit(
            (parts.scheme, f"{netloc_host}:{port}", parts.path or "/", parts.query, "")
        )
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        all_headers = encode_headers(
            {"user-agent": self.user_agent, **hop.headers, "host": host_header}
        )
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        request = self._client.build_request(
            hop.method,
            pinned,
            params=hop.params,
            # httpx types names and values alike; a str name is ASCII-encoded by httpx anyway.
            headers=[(name.encode("ascii"), value) for name, value in all_headers.items()],
            content=hop.content,
            timeout=httpx.Timeout(timeout_s),
            extensions=extensions,
        )
        try:
            resp = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise OutboundError(f"the API did not answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise OutboundError(f"could not reach {host}: {type(exc).__name__}") from None
        try:
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise OutboundError(f"the API answer is larger than {self.max_bytes} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise OutboundError(f"the API answer is larger than {self.max_bytes} bytes")
                chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise OutboundError(f"the API connection broke: {type(exc).__name__}") from None
        finally:
            await resp.aclose()
        return resp.status_code, resp.headers, b"".join(chunks)
