"""Who may open the admin namespace: basic authentication with a bcrypt hash, and UI sessions.

The UI logs in once with ``{"username", "password"}``; the server answers with a ``session`` event
carrying a session id, which the UI stores and sends back as ``{"sessionId"}`` on later visits.
Checking the hash needs the optional ``bcrypt`` package (``pip install socketeer[admin]``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "Authenticator",
    "BasicAuth",
    "InMemorySessionStore",
    "SessionStore",
    "check_password",
    "new_session_id",
]

# $2a$/$2b$/$2y$ (bcryptjs writes $2a$, the bcrypt package $2b$), two-digit cost, 22+31 chars of salt+hash
_BCRYPT_HASH = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """A user name and the bcrypt hash of the password (as the official ``instrument()`` takes them).

    Make a hash with ``python -c "import bcrypt; print(bcrypt.hashpw(b'secret', bcrypt.gensalt()).decode())"``
    or ``node -e "console.log(require('bcryptjs').hashSync('secret', 10))"``.
    """

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not isinstance(self.password, str):
            raise TypeError("username and password must be strings")
        if _BCRYPT_HASH.match(self.password) is None:
            raise ValueError("the `password` field must be a valid bcrypt hash")

    @classmethod
    def from_option(cls, auth: BasicAuth | Mapping[str, Any]) -> BasicAuth:
        """``{"type": "basic", "username": ..., "password": ...}`` (the official option's shape)."""
        if isinstance(auth, BasicAuth):
            return auth
        if auth.get("type") != "basic":
            raise ValueError(
                'invalid `auth` option: expected {"type": "basic", "username", "password"} or False'
            )
        return cls(auth.get("username"), auth.get("password"))  # type: ignore[arg-type]


def _load_checker() -> Callable[[bytes, bytes], bool]:
    try:
        import bcrypt
    except ImportError:
        raise ImportError(
            "basic authentication for the admin UI needs the bcrypt package: pip install 'socketeer[admin]'"
        ) from None
    checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw
    return checkpw


def check_password(password: str, hashed: str, checker: Callable[[bytes, bytes], bool]) -> bool:
    """Whether ``password`` matches the bcrypt ``hashed`` (``False`` for what bcrypt refuses)."""
    try:
        return bool(checker(password.encode(), hashed.encode()))
    except ValueError:  # e.g. a password over bcrypt's 72 bytes
        return False


class Authenticator:
    """Checks the credentials or the session id a UI sends in its CONNECT ``auth``."""

    def __init__(self, basic: BasicAuth, store: SessionStore) -> None:
        self.basic = basic
        self.store = store
        self._checker = _load_checker()

    async def authenticate(self, auth: Mapping[str, Any]) -> str | None:
        """``None`` for a known session; a new session id for good credentials; raises ``PermissionError``."""
        session_id = auth.get("sessionId")
        if isinstance(session_id, str) and session_id and await self.store.exists(session_id):
            return None
        password = auth.get("password")
        if auth.get("username") == self.basic.username and isinstance(password, str):
            # bcrypt is slow on purpose (~0.1 s at cost 10): off the event loop
            if await asyncio.to_thread(check_password, password, self.basic.password, self._checker):
                session_id = new_session_id()
                self.store.save(session_id)
                return session_id
        raise PermissionError("invalid credentials")


def new_session_id() -> str:
    return secrets.token_hex(8)


class SessionStore(Protocol):
    """Where UI session ids live; share one (say in Redis) between servers of a cluster."""

    async def exists(self, session_id: str) -> bool: ...
    def save(self, session_id: str) -> None: ...


class InMemorySessionStore:
    """Session ids of this process, the oldest forgotten past ``max_sessions``."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, None] = OrderedDict()

    async def exists(self, session_id: str) -> bool:
        return session_id in self._sessions

    def save(self, session_id: str) -> None:
        self._sessions[session_id] = None
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
