"""Fetch a URL a caller gave us, without letting it reach inside our network (SSRF).

A partner's ``media_url`` is a URL chosen by someone outside; fetching it naively
lets them make this server read its own admin ports, the cloud metadata service
(169.254.169.254) or anything else on the private network. Every rule below closes
one way in:

* **http and https only**, no credentials in the URL, no IP zone ids.
* **One resolution per hop, and we connect to the address we checked.** The host
  is resolved once; *every* address it resolves to must be public, else the URL is
  refused (a name that resolves to one public and one private address is a
  trick, not a mirror). The connection then goes to that IP — never a second DNS
  lookup that a rebinding attacker could answer differently. TLS still verifies
  the certificate against the host name (SNI), so pinning costs no security.
* **Public addresses only**: loopback, private (RFC 1918, fc00::/7), link-local
  (169.254/16 with the metadata service, fe80::/10), CGNAT (100.64/10),
  multicast, reserved, unspecified (0.0.0.0, ::), documentation ranges and
  IPv6 forms that embed an IPv4 address (``::ffff:127.0.0.1``, 6to4, Teredo,
  NAT64) are refused. ``allow_loopback`` exists for tests, which serve files
  from 127.0.0.1; it lets loopback through and nothing else.
* **Ambiguous IP spellings are refused outright**: ``http://2130706433/``,
  ``http://0x7f.1/``, ``http://0177.0.0.1/`` are 127.0.0.1 to the C resolver
  but not to a human reading logs, and no honest client sends them.
* **Redirects are followed by hand** (at most ``max_redirects``), each target
  parsed, resolved and checked like the first URL.
* **Bounded**: one deadline for the whole fetch (DNS included), a byte cap
  enforced while streaming (a lying or missing ``Content-Length`` does not
  help), no compression (``Accept-Encoding: identity``, so no zip bombs), and
  no proxies (``http.client`` ignores the proxy environment, which would
  otherwise defeat the address check).
* **Content check**: the declared type must be an image (or the generic
  ``application/octet-stream``), and the bytes themselves must be one, judged by
  the caller's ``sniff`` function (magic bytes), not by the header.

Failures raise :class:`FetchRefused` with a machine ``reason``.
"""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

from app.core.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port → the addresses it resolves to (strings, any family)
Resolver = Callable[[str, int], Sequence[str]]
# the first bytes of a body → a name for what they are, or None when unacceptable
Sniffer = Callable[[bytes], object | None]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SNIFF_BYTES = 4096
_CHUNK = 64 * 1024
MAX_URL_LENGTH = 2048
# IPv6 prefixes that carry an IPv4 address inside: NAT64 (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_CANONICAL_LABEL = re.compile(r"^(?:0|[1-9][0-9]{0,2})$")


class FetchFailure(StrEnum):
    bad_url = "bad_url"
    scheme = "scheme"
    disallowed_address = "disallowed_address"
    resolve_failed = "resolve_failed"
    too_many_redirects = "too_many_redirects"
    http_status = "http_status"
    too_large = "too_large"
    bad_content_type = "bad_content_type"
    not_an_image = "not_an_image"
    timeout = "timeout"
    connection = "connection"


class FetchRefused(DomainError):
    """The URL was not fetched, or its body not accepted; ``reason`` says why."""

    status = 400
    code = "fetch-refused"
    title = "URL not fetched"

    def __init__(self, reason: FetchFailure, detail: str) -> None:
        super().__init__(detail, reason=reason.value)
        self.reason = reason

    def __repr__(self) -> str:
        return f"FetchRefused({self.reason.value!r}, {self.detail!r})"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits of one fetch. ``sniff`` decides from magic bytes whether the body is
    acceptable (``app.photos.images.sniff`` for photos)."""

    max_bytes: int
    sniff: Sniffer
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_redirects: int = 3
    allow_loopback: bool = False
    accept_types: tuple[str, ...] = ("image/",)
    user_agent: str = "gridfix-media-fetcher/1"


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    content_type: str | None
    kind: object  # what ``sniff`` said
    redirects: int


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed, checked URL: where to connect and what to ask for."""

    url: str
    scheme: str
    host: str  # as written (lower case), for the Host header and TLS
    port: int
    path: str  # path and query


# ---------------------------------------------------------------- addresses
def refusal_reason(ip: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``ip`` may not be fetched from, or ``None`` when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "an IPv6 zone id"
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        if ip.sixtofour is not None or ip.teredo is not None:
            return "an IPv6 address embedding IPv4 (6to4 or Teredo)"
        if any(ip in net for net in _NAT64):
            return "a NAT64 address"
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    checks = (
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), None)


def check_address(address: str, *, allow_loopback: bool = False) -> IPAddress:
    """The parsed address, or :class:`FetchRefused` when it is not a public one."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise FetchRefused(FetchFailure.bad_url, f"{address!r} is not an IP address") from None
    why = refusal_reason(ip, allow_loopback=allow_loopback)
    if why is not None:
        raise FetchRefused(FetchFailure.disallowed_address, f"{ip} is {why}")
    return ip


def _numeric_host(host: str) -> bool:
    labels = host.split(".")
    return all(_NUMERIC_LABEL.match(label) for label in labels if label) and any(labels)


def _canonical_ipv4(host: str) -> bool:
    labels = host.split(".")
    return len(labels) == 4 and all(
        _CANONICAL_LABEL.match(label) and int(label) <= 255 for label in labels
    )


# ---------------------------------------------------------------- URLs
def parse_url(url: str) -> Target:
    """Parse and pre-check a URL (scheme, host, port, spelling); no network access."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise FetchRefused(FetchFailure.bad_url, f"a URL of 1 to {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise FetchRefused(FetchFailure.bad_url, "the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise FetchRefused(FetchFailure.bad_url, f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused(
            FetchFailure.scheme, f"only http and https URLs are fetched, not {scheme!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise FetchRefused(FetchFailure.bad_url, "URLs with credentials are not fetched")
    if not host:
        raise FetchRefused(FetchFailure.bad_url, "the URL has no host")
    host = host.lower().rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise FetchRefused(FetchFailure.bad_url, "the host name is not valid") from None
    if "%" in host:
        raise FetchRefused(FetchFailure.bad_url, "IPv6 zone ids are not allowed")
    if ":" not in host and _numeric_host(host) and not _canonical_ipv4(host):
        raise FetchRefused(
            FetchFailure.disallowed_address,
            f"{host!r} is an ambiguous spelling of an IP address; use dotted decimal",
        )
    if port == 0:
        raise FetchRefused(FetchFailure.bad_url, "port 0 is not a port")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        url=url,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        path=path,
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, through the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve_within(resolver: Resolver, host: str, port: int, timeout: float) -> Sequence[str]:
    """Run the (blocking, timeout-less) resolver in a helper thread, bounded by ``timeout``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["ok"] = resolver(host, port)
        except Exception as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="gridfix-resolve", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if worker.is_alive():
        raise FetchRefused(FetchFailure.timeout, f"resolving {host!r} took too long")
    if "error" in box:
        raise FetchRefused(FetchFailure.resolve_failed, f"cannot resolve {host!r}") from None
    return list(box["ok"])


def pin_address(
    target: Target, policy: FetchPolicy, resolver: Resolver, timeout: float
) -> IPAddress:
    """Resolve ``target.host`` once and check every address; return the one to connect to."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        return check_address(str(literal), allow_loopback=policy.allow_loopback)
    addresses = _resolve_within(resolver, target.host, target.port, timeout)
    if not addresses:
        raise FetchRefused(FetchFailure.resolve_failed, f"{target.host!r} has no address")
    checked = [check_address(a, allow_loopback=policy.allow_loopback) for a in addresses]
    return checked[0]


# ---------------------------------------------------------------- connections
class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked IP; the Host header still names the host."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._ip = ip

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self._ip), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a checked IP and verifies the certificate against the host name."""

    def __init__(
        self, host: str, port: int, ip: IPAddress, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._ip = ip
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((str(self._ip), self.port), self.timeout)
        try:
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def _connection(target: Target, ip: IPAddress, timeout: float) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(
            target.host, target.port, ip, timeout, ssl.create_default_context()
        )
    return _PinnedHTTPConnection(target.host, target.port, ip, timeout)


def _acceptable_type(media: str | None, policy: FetchPolicy) -> bool:
    """No declared type, the generic binary type, or one of the accepted ones."""
    if media is None or media == "application/octet-stream":
        return True
    return any(media.startswith(t) for t in policy.accept_types)


def _media_type(header: str | None) -> str | None:
    if not header:
        return None
    return header.split(";", 1)[0].strip().lower() or None


# ---------------------------------------------------------------- fetching
class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        left = self._end - time.monotonic()
        if left <= 0:
            raise FetchRefused(FetchFailure.timeout, "the fetch took too long")
        return left


def fetch(url: str, policy: FetchPolicy, *, resolver: Resolver | None = None) -> Fetched:
    """GET ``url`` under ``policy``; the body, or :class:`FetchRefused`."""
    resolve = resolver or system_resolver
    deadline = _Deadline(policy.timeout_s)
    target = parse_url(url)
    for hop in range(policy.max_redirects + 1):
        ip = pin_address(target, policy, resolve, min(deadline.left(), policy.connect_timeout_s))
        conn = _connection(target, ip, min(deadline.left(), policy.connect_timeout_s))
        try:
            result = _exchange(conn, target, policy, deadline)
        except FetchRefused:
            raise
        except TimeoutError:
            raise FetchRefused(FetchFailure.timeout, "the server was too slow") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:  # SSLError: OSError
            raise FetchRefused(
                FetchFailure.connection, f"could not fetch from {target.host}: {type(exc).__name__}"
            ) from None
        finally:
            conn.close()
        if isinstance(result, Target):
            target = result
            continue
        data, content_type = result
        return Fetched(target.url, data, content_type, _sniff(data, policy), hop)
    raise FetchRefused(
        FetchFailure.too_many_redirects, f"more than {policy.max_redirects} redirects"
    )


def _exchange(
    conn: http.client.HTTPConnection, target: Target, policy: FetchPolicy, deadline: _Deadline
) -> Target | tuple[bytes, str | None]:
    """One request: a redirect's next target, or the body and its declared type."""
    conn.request(
        "GET",
        target.path,
        headers={
            "User-Agent": policy.user_agent,
            "Accept": "image/*",
            "Accept-Encoding": "identity",
            "Connection": "close",
        },
    )
    sock = conn.sock
    if sock is not None:
        sock.settimeout(deadline.left())
    response = conn.getresponse()
    try:
        if response.status in REDIRECT_STATUSES:
            location = response.getheader("Location")
            if not location:
                raise FetchRefused(
                    FetchFailure.http_status, f"HTTP {response.status} with no Location"
                )
            return parse_url(urljoin(target.url, location.strip()))
        if response.status != 200:
            raise FetchRefused(
                FetchFailure.http_status, f"the server answered HTTP {response.status}"
            )
        content_type = response.getheader("Content-Type")
        media = _media_type(content_type)
        if not _acceptable_type(media, policy):
            raise FetchRefused(FetchFailure.bad_content_type, f"{media} is not an image type")
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > policy.max_bytes:
            raise FetchRefused(
                FetchFailure.too_large,
                f"{int(declared):,} bytes; the limit is {policy.max_bytes:,}",
            )
        return _read_body(response, sock, policy, deadline), content_type
    finally:
        response.close()


def _read_body(
    response: http.client.HTTPResponse,
    sock: socket.socket | None,
    policy: FetchPolicy,
    deadline: _Deadline,
) -> bytes:
    """The body, read in chunks under the byte cap and the deadline."""
    buf = bytearray()
    sniffed = False
    # The response closes its socket once a declared length has been read.
    while not response.isclosed():
        if sock is not None:
            sock.settimeout(deadline.left())
        chunk = response.read1(_CHUNK)  # what has arrived: read() would wait for all of it
        if not chunk:
            break
        deadline.left()  # a slow drip of small chunks still ends on time
        buf += chunk
        if len(buf) > policy.max_bytes:
            raise FetchRefused(
                FetchFailure.too_large, f"more than {policy.max_bytes:,} bytes (the limit)"
            )
        if not sniffed and len(buf) >= SNIFF_BYTES:
            _sniff(bytes(buf[:SNIFF_BYTES]), policy)  # give up early on HTML or a video
            sniffed = True
    return bytes(buf)


def _sniff(data: bytes, policy: FetchPolicy) -> object:
    kind = policy.sniff(data)
    if kind is None:
        raise FetchRefused(FetchFailure.not_an_image, "the body is not an image we accept")
    return kind
