"""Who may call and how much: access tokens, the daily API request limit, call counters.

Separate from the org's data (and with its own lock) because every REST call passes through here before
it touches any data, and tests read the counters while clients are mid-call.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from typing import Any, Final

from . import ids
from .errors import AdminError
from .faults import CALL_KINDS

ORG_ID: Final = ids.make_id("00D", "SB", 1)
#: The integration user: every token the client credentials get signs in as this user (the connected app's
#: "run as" user), so every record the REST API writes carries it in CreatedById / LastModifiedById.
USER_ID: Final = ids.make_id("005", "SB", 1)
#: GM's own people (call centre, website, campaigns): generated leads and every change made through the
#: admin API carry this user, so that GM-side changes and the integration's own can be told apart.
GM_USER_ID: Final = ids.make_id("005", "GM", 1)


class Access:
    """Tokens, usage against ``DailyApiRequests``, and calls counted by kind."""

    def __init__(self, client_id: str, client_secret: str, daily_limit: int) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._default_max = daily_limit
        self._lock = threading.Lock()
        # Token -> the user it signs in as (one integration user here; kept per token because a request
        # acts as its token's user, as in Salesforce).
        self._tokens: dict[str, str] = {}
        self._calls: Counter[str] = Counter()
        self._used = 0
        self._max = daily_limit

    def reset(self) -> None:
        """Counters and usage back to zero, the limit as configured. Tokens stay valid: not a sign-out."""
        with self._lock:
            self._calls.clear()
            self._used = 0
            self._max = self._default_max

    # ------------------------------------------------------------------------------------------ tokens

    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        """A new access token for the right client credentials, None otherwise."""
        if not (
            secrets.compare_digest(client_id.encode(), self._client_id.encode())
            and secrets.compare_digest(client_secret.encode(), self._client_secret.encode())
        ):
            return None
        # Shaped like Salesforce's: the 15-character org id, "!", an opaque part.
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        with self._lock:
            self._tokens[token] = USER_ID
        return token

    def token_valid(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def user_of(self, token: str) -> str | None:
        """The User id a token signs in as (None: not a valid token)."""
        with self._lock:
            return self._tokens.get(token)

    def revoke(self, token: str) -> None:
        """One token becomes invalid (a sign-in whose session is refused from its first use)."""
        with self._lock:
            self._tokens.pop(token, None)

    def expire_sessions(self) -> int:
        """Invalidate every token issued so far; returns how many."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
            return n

    # ----------------------------------------------------------------------------------- usage, calls

    def record_call(self, kind: str) -> None:
        with self._lock:
            self._calls[kind if kind in CALL_KINDS else "other"] += 1

    def consume(self) -> bool:
        """Count one API request against the daily limit; False (nothing counted) once it is reached."""
        with self._lock:
            if self._used >= self._max:
                return False
            self._used += 1
            return True

    def usage(self) -> tuple[int, int]:
        """(used, max)."""
        with self._lock:
            return self._used, self._max

    def set_limits(self, max_: int | None = None, used: int | None = None) -> dict[str, int]:
        with self._lock:
            if max_ is not None:
                if max_ < 0:
                    raise AdminError(400, "max must be >= 0")
                self._max = max_
            if used is not None:
                if used < 0:
                    raise AdminError(400, "used must be >= 0")
                self._used = used
            return {"max": self._max, "used": self._used, "remaining": max(self._max - self._used, 0)}

    def exhaust(self) -> dict[str, int]:
        """Usage up to the maximum: the next calls get REQUEST_LIMIT_EXCEEDED until limits change."""
        with self._lock:
            self._used = max(self._used, self._max)
            return {"used": self._used, "max": self._max}

    def calls(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {kind: self._calls.get(kind, 0) for kind in CALL_KINDS}
            out["total"] = sum(self._calls.values())
            out["api_usage"] = {"used": self._used, "max": self._max}
            return out
