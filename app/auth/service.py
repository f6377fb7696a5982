"""Auth use cases: principals, password login, rider sign-up, API keys, request identity.

Services flush, never commit: the request's session commits once at the end.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.actor import Actor, AuthMethod
from app.auth.enums import OFFICE_SCOPED_ROLES, Role
from app.auth.exceptions import InvalidCredentials, InvalidToken
from app.auth.models import ApiKey, Principal
from app.auth.schemas import RIDER_NAME_PREFIX, normalise_name, normalise_phone
from app.auth.security import (
    UNKNOWN_KEY_HASH,
    api_secret_matches,
    burn_password_check,
    generate_api_key,
    hash_password,
    parse_api_key,
    verify_password,
)
from app.auth.tokens import decode_token
from app.config import Settings
from app.core.cache import TTLCache
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.grids.models import Office

# Recording every API-key use would turn each read into a write; a minute's
# resolution is plenty to tell live keys from dead ones.
KEY_USE_RESOLUTION = timedelta(minutes=1)


def field_error(field: str, reason: str, *, where: str = "body") -> InvalidInput:
    """A 422 naming one field, shaped like the framework's validation errors."""
    return InvalidInput(
        f"invalid or missing: {field}",
        errors=[{"field": field, "in": where, "reason": reason, "type": "value_error"}],
    )


# ---------------------------------------------------------------- principals
def resolve_office(session: Session, office_code: str | None, *, field: str) -> Office | None:
    if office_code is None:
        return None
    office = repository.get_office_by_code(session, office_code)
    if office is None:
        raise field_error(field, f"no office with code {office_code!r}")
    return office


def create_principal(
    session: Session,
    *,
    name: str,
    role: Role,
    password: str | None = None,
    office_code: str | None = None,
    display_name: str | None = None,
) -> tuple[Principal, Office | None]:
    """Create a staff, viewer or admin principal (riders sign up through ``register_rider``).

    Officers, supervisors and viewers belong to an office; admins to none.
    """
    role = Role(role)
    if role == Role.rider:
        raise field_error("role", "riders register themselves at POST /v1/riders")
    if role in OFFICE_SCOPED_ROLES and office_code is None:
        raise field_error("office_code", f"a {role.value} needs an office")
    if role not in OFFICE_SCOPED_ROLES and office_code is not None:
        raise field_error("office_code", f"an {role.value} has no office")
    office = resolve_office(session, office_code, field="office_code")
    name = normalise_name(name)
    if repository.name_taken(session, name):
        raise Conflict(f"a principal named {name!r} already exists")
    principal = Principal(
        name=name,
        display_name=display_name,
        role=role,
        office_id=office.id if office else None,
        password_hash=hash_password(password) if password is not None else None,
        active=True,
        token_version=0,
    )
    if not repository.insert_principal(session, principal):  # lost a race for the name
        raise Conflict(f"a principal named {name!r} already exists")
    return principal, office


def register_rider(
    session: Session, *, display_name: str | None = None, phone: str | None = None
) -> Principal:
    """Create a pseudonymous rider ("rider-3f9a0c1b7e2d"). The phone is kept private."""
    if phone is not None:
        try:
            phone = normalise_phone(phone)
        except ValueError as exc:
            raise field_error("phone", str(exc)) from None
    for _ in range(3):
        rider = Principal(
            name=RIDER_NAME_PREFIX + secrets.token_hex(6),
            display_name=display_name,
            role=Role.rider,
            phone=phone,
            active=True,
            token_version=0,
        )
        if repository.insert_principal(session, rider):
            return rider
    raise Conflict("could not allocate a rider name; try again")  # 2**48 names: never


def authenticate(session: Session, username: str, password: str) -> Principal:
    """Password login. Unknown name, wrong password, rider or inactive: one answer, one cost."""
    principal = repository.get_principal_by_name(session, username)
    if principal is None or principal.password_hash is None:
        burn_password_check(password)
        raise InvalidCredentials()
    check = verify_password(principal.password_hash, password)
    if not check.ok or not principal.active or principal.role == Role.rider:
        raise InvalidCredentials()
    if check.new_hash is not None:
        principal.password_hash = check.new_hash
        session.flush()
    return principal


def get_principal(session: Session, principal_id: int) -> tuple[Principal, Office | None]:
    found = repository.get_principal_with_office(session, principal_id)
    if found is None:
        raise NotFound(f"no principal with id {principal_id}")
    return found


def revoke_tokens(session: Session, principal_id: int) -> tuple[Principal, Office | None]:
    """Invalidate every token issued to the principal so far (API keys are unaffected)."""
    if repository.bump_token_version(session, principal_id) is None:
        raise NotFound(f"no principal with id {principal_id}")
    forget_principal(session, principal_id)
    return get_principal(session, principal_id)


def list_principals(
    session: Session,
    *,
    after_id: int | None,
    limit: int,
    role: Role | None = None,
    office_code: str | None = None,
) -> tuple[Sequence[tuple[Principal, str | None]], int | None]:
    """A page of principals and the cursor of the next one (``None`` at the end)."""
    office_id = None
    if office_code is not None:
        office = repository.get_office_by_code(session, office_code)
        if office is None:
            raise field_error("office_code", f"no office with code {office_code!r}", where="query")
        office_id = office.id
    rows = repository.list_principals(
        session, after_id=after_id, limit=limit + 1, role=role, office_id=office_id
    )
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1][0].id
    return rows, None


# ---------------------------------------------------------------- API keys
def create_api_key(session: Session, *, principal_id: int, name: str) -> tuple[ApiKey, str]:
    """Issue a key for a (non-rider, active) principal. The plaintext is returned only here."""
    principal = repository.get_principal(session, principal_id)
    if principal is None:
        raise field_error("principal_id", f"no principal with id {principal_id}")
    if principal.role == Role.rider:
        raise field_error("principal_id", "riders cannot hold API keys")
    if not principal.active:
        raise field_error("principal_id", "the principal is deactivated")
    for _ in range(3):
        new = generate_api_key()
        key = ApiKey(
            principal_id=principal.id,
            name=name,
            prefix=new.prefix,
            secret_hash=new.secret_hash,
        )
        if repository.insert_api_key(session, key):
            return key, new.plaintext
    raise Conflict("could not allocate a key prefix; try again")  # 36**12 prefixes: never


def revoke_api_key(session: Session, key_id: int) -> ApiKey:
    """Revoke a key. Revoking a revoked key changes nothing (idempotent)."""
    key = repository.get_api_key(session, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        forget_principal(session, key.principal_id)
    return key


def list_api_keys(
    session: Session, *, after_id: int | None, limit: int, principal_id: int | None = None
) -> tuple[Sequence[ApiKey], int | None]:
    keys = repository.list_api_keys(
        session, after_id=after_id, limit=limit + 1, principal_id=principal_id
    )
    if len(keys) > limit:
        return keys[:limit], keys[limit - 1].id
    return keys, None


# ---------------------------------------------------------------- request identity
class PrincipalCache:
    """Callers by credential, so that a caller's next requests skip the lookup.

    The bound, stated in the README: a revocation, deactivation, role or office
    change made anywhere else (another worker, the CLI, SQL) applies within
    ``ttl_s``; one made through this process (revoke-tokens, revoking a key)
    applies at once. An entry never outlives its token's expiry, and a refused
    credential is never kept. Keys are SHA-256 digests, so the cache holds no
    plaintext credential.

    How the bound holds while entries live ``hold_s`` (minutes): every such
    change moves the authentication epoch forward (database triggers, migration
    0008, so changes made in SQL count too). An entry keeps the epoch it was read
    at, in the same statement as the principal, and is served only while this
    process has seen, within the last ``ttl_s``, that the epoch is still that
    one. The process re-reads the epoch when an entry is wanted and its last
    sighting is older than that (:meth:`due`, :meth:`saw_epoch`): once every
    ``ttl_s`` at most, not once for each caller.
    """

    def __init__(
        self,
        ttl_s: float,
        max_items: int = 10_000,
        *,
        hold_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.hold_s = max(hold_s, ttl_s)
        self.clock = clock
        self._items: TTLCache[bytes, tuple[int, Actor]] = TTLCache(
            self.hold_s, max_items, clock=clock
        )
        # (epoch, when it was last seen current); replaced whole, so a reader
        # never pairs one epoch with another's sighting.
        self._seen: tuple[int | None, float] = (None, -math.inf)
        self._lock = threading.Lock()

    @staticmethod
    def key(kind: AuthMethod, credential: str) -> bytes:
        return hashlib.sha256(f"{kind}:{credential}".encode()).digest()

    def due(self) -> bool:
        """Whether the epoch must be read again before an entry may be served."""
        return self.clock() - self._seen[1] >= self.ttl_s

    def saw_epoch(self, epoch: int | None, read_from: float) -> None:
        """The epoch, as read by a statement that began at ``read_from`` (this
        cache's clock). An older epoch than one already seen changes nothing; a
        missing one (its row deleted) leaves nothing vouched for."""
        with self._lock:
            current, seen_at = self._seen
            if epoch is None:
                self._seen = (None, -math.inf)
            elif current is None or epoch > current:
                self._seen = (epoch, read_from)
            elif epoch == current:
                self._seen = (epoch, max(seen_at, read_from))

    def holds(self, key: bytes) -> bool:
        """An entry of the current epoch is kept for ``key`` (served or not)."""
        hit = self._items.get(key)
        return hit is not None and hit[0] == self._seen[0]

    def get(self, key: bytes) -> Actor | None:
        epoch, seen_at = self._seen
        hit = self._items.get(key)
        if hit is None or hit[0] != epoch or self.clock() - seen_at >= self.ttl_s:
            return None
        return hit[1]

    def put(self, key: bytes, actor: Actor, epoch: int | None, ttl_s: float | None = None) -> None:
        """Keep ``actor``, read at ``epoch``: only an entry of the epoch last seen is kept."""
        if epoch is not None and epoch == self._seen[0]:
            self._items.put(key, (epoch, actor), ttl_s)

    def forget_principal(self, principal_id: int) -> int:
        return self._items.discard_if(lambda _k, entry: entry[1].id == principal_id)

    def __len__(self) -> int:
        return len(self._items)


def refresh_epoch(cache: PrincipalCache, conn: Session | Connection) -> None:
    """Read the authentication epoch for ``cache`` (see :class:`PrincipalCache`)."""
    started = cache.clock()
    cache.saw_epoch(repository.read_epoch(conn), started)


# Where the request's session carries this process's principal cache (set by the
# credential dependency), so a revocation in the request can clear it.
PRINCIPAL_CACHE_INFO = "gridfix.principal_cache"


def forget_principal(session: Session, principal_id: int) -> None:
    """Drop the principal's cached credentials now and again after commit: a
    concurrent request may have cached the row it read before this change committed."""
    cache = session.info.get(PRINCIPAL_CACHE_INFO)
    if not isinstance(cache, PrincipalCache):
        return
    cache.forget_principal(principal_id)
    event.listen(
        session, "after_commit", lambda _s: cache.forget_principal(principal_id), once=True
    )


def _actor(
    principal: Principal, office_code: str | None, office_path: str | None, via: AuthMethod
) -> Actor:
    return Actor(
        id=principal.id,
        name=principal.name,
        role=Role(principal.role),
        office_id=principal.office_id,
        office_code=office_code,
        office_path=office_path,
        display_name=principal.display_name,
        via=via,
    )


def actor_from_token(
    session: Session, settings: Settings, token: str, *, cache: PrincipalCache | None = None
) -> Actor:
    """Verify a bearer token and load its principal; revoked or deactivated → 401.

    With ``cache``, a token seen recently is answered from it (see
    :class:`PrincipalCache`): the signature was verified when it was stored, and
    the entry expires no later than the token.
    """
    key = cache.key("token", token) if cache is not None else b""
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit
    claims = decode_token(settings, token)
    started = cache.clock() if cache is not None else 0.0
    found = repository.get_principal_for_auth(session, claims.principal_id)
    if found is None:
        raise InvalidToken("token's principal no longer exists")
    principal, office_code, office_path, epoch = found
    if cache is not None:
        cache.saw_epoch(epoch, started)
    if not principal.active:
        raise InvalidToken("principal is deactivated")
    if principal.token_version != claims.token_version:
        raise InvalidToken("token has been revoked")
    actor = _actor(principal, office_code, office_path, "token")
    if cache is not None:
        cache.put(key, actor, epoch, claims.expires_at.timestamp() - time.time())
    return actor


def actor_from_api_key(
    session: Session,
    raw_key: str,
    *,
    now: datetime | None = None,
    cache: PrincipalCache | None = None,
) -> Actor:
    """Check an API key in constant time and load its principal; record its use.

    With ``cache``, a key seen in the last minute is answered from it (see
    :class:`PrincipalCache`); its use is still recorded at least once a minute.
    """
    key_digest = cache.key("api_key", raw_key) if cache is not None else b""
    if cache is not None and (hit := cache.get(key_digest)) is not None:
        return hit
    parsed = parse_api_key(raw_key)
    if parsed is None:
        raise InvalidToken("API key is malformed")
    prefix, secret = parsed
    started = cache.clock() if cache is not None else 0.0
    found = repository.get_api_key_for_auth(session, prefix)
    # Compare even when the prefix is unknown so both answers take the same time.
    matches = api_secret_matches(secret, found[0].secret_hash if found else UNKNOWN_KEY_HASH)
    if found is None or not matches:
        raise InvalidToken("API key is not valid")
    key, principal, office_code, office_path, epoch = found
    if cache is not None:
        cache.saw_epoch(epoch, started)
    if key.revoked_at is not None:
        raise InvalidToken("API key has been revoked")
    if not principal.active:
        raise InvalidToken("principal is deactivated")
    now = now or utcnow()
    if key.last_used_at is None or key.last_used_at < now - KEY_USE_RESOLUTION:
        repository.touch_api_key(session, key.id, now, older_than=now - KEY_USE_RESOLUTION)
    actor = _actor(principal, office_code, office_path, "api_key")
    if cache is not None:
        # Held a minute at most, so its use is still stamped once a minute.
        cache.put(key_digest, actor, epoch, KEY_USE_RESOLUTION.total_seconds())
    return actor


def require_role(actor: Actor, *roles: Role) -> None:
    if actor.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"this needs the role {allowed}; you are {actor.role.value}")
