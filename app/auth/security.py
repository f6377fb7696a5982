"""Password hashing and API-key secrets. Pure: no database, no settings.

Passwords are low-entropy, so they get argon2id, a deliberately slow and
memory-hard hash. API keys are 256-bit random secrets; brute force against them
is hopeless whatever the hash, so a single SHA-256 is enough and keeps every
key-authenticated request fast.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id,
# t=3, m=64 MiB, p=4): about 50 ms a hash on this class of machine.
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    # Set when the stored hash was made with older parameters: store this instead.
    new_hash: str | None = None


def verify_password(stored_hash: str, password: str) -> PasswordCheck:
    """Check ``password`` against an argon2 hash; offer a rehash when parameters changed."""
    try:
        _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    if _hasher.check_needs_rehash(stored_hash):
        return PasswordCheck(ok=True, new_hash=_hasher.hash(password))
    return PasswordCheck(ok=True)


@cache
def _dummy_hash() -> str:
    # Made on first use, not at import, so importing the module costs nothing.
    return _hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the time of one real verification, for logins with no hash to check.

    Without it an unknown user name answers ~50 ms faster than a wrong password,
    which tells an attacker which names exist.
    """
    verify_password(_dummy_hash(), password)


# ---------------------------------------------------------------- API keys
API_KEY_TAG = "gfk"
PREFIX_LEN = 12
SECRET_MIN_LEN = 32
SECRET_MAX_LEN = 128
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
# gfk_<12 lowercase letters/digits>_<url-safe secret>. The secret may itself
# contain "_" and "-" (base64url), so parsing is positional, not split("_").
_KEY_RE = re.compile(
    rf"^{API_KEY_TAG}_(?P<prefix>[a-z0-9]{{{PREFIX_LEN}}})_"
    rf"(?P<secret>[A-Za-z0-9_-]{{{SECRET_MIN_LEN},{SECRET_MAX_LEN}}})$"
)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    plaintext: str  # shown to the caller once, never stored
    prefix: str
    secret_hash: str


def hash_api_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LEN))
    secret = secrets.token_urlsafe(32)  # 256 bits, 43 characters
    return NewApiKey(
        plaintext=f"{API_KEY_TAG}_{prefix}_{secret}",
        prefix=prefix,
        secret_hash=hash_api_secret(secret),
    )


def parse_api_key(raw: str) -> tuple[str, str] | None:
    """Split a presented key into ``(prefix, secret)``; ``None`` if it is not one of ours."""
    m = _KEY_RE.match(raw.strip())
    if m is None:
        return None
    return m["prefix"], m["secret"]


def api_secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored SHA-256."""
    return hmac.compare_digest(hash_api_secret(secret).encode(), stored_hash.encode())


# Compared against when the prefix is unknown, so both paths do the same work.
UNKNOWN_KEY_HASH = hashlib.sha256(b"gridfix: no such key").hexdigest()
