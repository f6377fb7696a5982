"""POST one webhook delivery, with the SSRF rules of ``app.core.outbound``.

The URL is parsed and its host resolved once; every address must be public
(loopback only with ``outbound_allow_loopback``, for tests) and the connection
goes to the checked address — so a receiver whose DNS now points inside our
network is refused at delivery, not just at registration. Redirects are not
followed (a 3xx is a failed attempt), the whole exchange has one short deadline
and at most a few hundred bytes of the answer are read, for the delivery log.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from app.core import outbound
from app.core.outbound import FetchPolicy, FetchRefused, Resolver, Target

USER_AGENT = "gridfix-webhooks/1"
_SNIPPET = 300


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None


def _policy(allow_loopback: bool, timeout_s: float) -> FetchPolicy:
    # Only the address rules of the policy matter here: nothing is downloaded.
    return FetchPolicy(
        max_bytes=0,
        sniff=lambda _data: None,
        timeout_s=timeout_s,
        connect_timeout_s=timeout_s,
        max_redirects=0,
        allow_loopback=allow_loopback,
    )


def check_url(
    url: str, *, allow_loopback: bool, timeout_s: float, resolver: Resolver | None = None
) -> Target:
    """Parse ``url`` and resolve its host; :class:`FetchRefused` unless every address
    is public. Run at registration; delivery repeats it."""
    target = outbound.parse_url(url)
    outbound.pin_address(
        target,
        _policy(allow_loopback, timeout_s),
        resolver or outbound.system_resolver,
        timeout_s,
    )
    return target


def _printable(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return "".join(c if c.isprintable() else " " for c in text).strip()


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float,
    allow_loopback: bool,
    resolver: Resolver | None = None,
) -> Outcome:
    """One attempt. Never raises for network trouble: the outcome says what happened."""
    deadline = time.monotonic() + timeout_s

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        return remaining

    try:
        target = outbound.parse_url(url)
        ip = outbound.pin_address(
            target,
            _policy(allow_loopback, timeout_s),
            resolver or outbound.system_resolver,
            left(),
        )
    except FetchRefused as exc:
        return Outcome(False, None, f"refused: {exc.detail}")
    except TimeoutError:
        return Outcome(False, None, "timeout resolving the host")
    conn: http.client.HTTPConnection | None = None
    try:
        # The pinned connection of outbound.py: TLS still checks the host name.
        conn = outbound._connection(target, ip, left())
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "Accept-Encoding": "identity",
                "Connection": "close",
                **headers,
            },
        )
        if conn.sock is not None:
            conn.sock.settimeout(left())
        response = conn.getresponse()
        snippet = response.read(_SNIPPET)
        status = response.status
    except TimeoutError:
        return Outcome(False, None, f"timeout after {timeout_s:g} s")
    except (OSError, ValueError, http.client.HTTPException) as exc:  # SSLError is an OSError
        return Outcome(False, None, f"connection failed: {type(exc).__name__}: {exc}"[:500])
    finally:
        if conn is not None:
            conn.close()
    if 200 <= status < 300:
        return Outcome(True, status, None)
    note = " (redirects are not followed)" if 300 <= status < 400 else ""
    text = _printable(snippet)
    return Outcome(False, status, f"HTTP {status}{note}" + (f": {text}" if text else ""))
