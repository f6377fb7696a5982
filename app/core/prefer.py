"""The ``Prefer`` request header (RFC 7240), as far as the API honours it.

``return=minimal`` on a write asks for no representation in the answer: the
server says 204 with the new ETag (enough for the next ``If-Match``) and
``Preference-Applied: return=minimal``. A phone on a weak network then receives
a few headers instead of the whole ticket, and the server skips building it.
Other preferences are ignored, as the RFC allows.
"""

from __future__ import annotations

MINIMAL = "return=minimal"
APPLIED_HEADER = "Preference-Applied"


def wants_minimal(prefer: str | None) -> bool:
    """Whether a ``Prefer`` header (possibly several preferences, comma-separated,
    each with ``;`` parameters) holds ``return=minimal``."""
    if not prefer:
        return False
    for item in prefer.split(","):
        token, _, _params = item.partition(";")
        name, _, value = token.partition("=")
        if name.strip().lower() == "return" and value.strip().strip('"').lower() == "minimal":
            return True
    return False
