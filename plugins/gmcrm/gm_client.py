"""The GM CRM client: every Salesforce call the integration makes goes through here.

It owns what simple-salesforce leaves to the caller (``salesforce-notes.md``): retries with
backoff on transient failures (5xx, timeouts, resets), one fresh sign-in on an expired session,
a hard stop (``GmStop``: everything left pending) on the daily limit and on a session refused
again right after that sign-in, and a count of the API calls used and remaining.

Production signs in through the Airflow Salesforce provider's hook (JWT, client credentials or
password flows, all handled by simple-salesforce). A Salesforce-compatible server that is not on
``salesforce.com`` (the sandbox) gets a client-credentials token and a direct session.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from simple_salesforce.util import exception_handler
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gmcrm.gm_mapping import GmMapping, load_mapping
from gmcrm.logs import get_logger
from gmcrm.send import graph

log = get_logger(__name__)

T = TypeVar("T")

SALESFORCE_HOST_SUFFIXES = (".salesforce.com", ".force.com", ".salesforce.mil", ".cloudforce.com")


class GmError(Exception):
    """A GM CRM call failed."""


class GmStop(GmError):
    """Stop calling this GM connection for this cycle and leave every lead and event pending.

    Nothing is wrong with the work itself (the next cycle may well succeed), so nothing is marked
    failed. ``status`` and ``error_code`` are what the send log records for the deferred events;
    ``reason`` is the short text a run reports.
    """

    status: int | None = None
    error_code: str = "STOPPED"
    reason: str = "GM CRM stopped this cycle"


class DailyLimitReached(GmStop):
    """GM's daily API request limit is used up: stop for this cycle, keep everything pending."""

    status = 403
    error_code = "REQUEST_LIMIT_EXCEEDED"
    reason = "daily API limit reached"


class SessionRefused(GmStop):
    """GM refused the session again right after a fresh sign-in: stop this connection for the cycle.

    A second refusal in a row is not the events' fault (the integration user may be frozen, its
    connected app's policy changed, or GM's login service is failing): failing every event of the
    batch would make a person retry each by hand once it is over.
    """

    status = 401
    error_code = "SESSION_REFUSED"
    reason = "GM CRM refused the session again right after signing in again"

    def __init__(self, connection: str) -> None:
        super().__init__(
            f"{self.reason} (connection {connection}): nothing more is sent or read on it this cycle and "
            "everything is left pending for the next one; if it lasts, check the integration user and "
            "its connected app at GM"
        )


class GmConfigError(GmError):
    """The GM connection is set up wrong (its certificate authority, for one): retrying cannot help, a
    person must fix the connection."""


class GmTransientError(GmError):
    """GM did not answer usefully after the retries: leave the work pending for the next cycle."""


class GmRequestError(GmError):
    """GM refused a whole request (400 and the like): permanent for that request, do not loop."""

    def __init__(self, message: str, status: int | None = None, content: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.content = content


@dataclass
class CallStats:
    """API calls made by this client, and GM's daily usage as last reported."""

    by_kind: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    sign_ins: int = 0
    api_used: int | None = None
    api_max: int | None = None

    @property
    def calls(self) -> int:
        return sum(self.by_kind.values())

    @property
    def api_remaining(self) -> int | None:
        if self.api_used is None or self.api_max is None:
            return None
        return self.api_max - self.api_used

    def summary(self) -> str:
        remaining = self.api_remaining
        return f"{self.calls} API calls" + (
            f" ({remaining} of {self.api_max} left today)" if remaining is not None else ""
        )


def _error_code(exc: SalesforceError) -> str | None:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def is_transient(exc: BaseException) -> bool:
    """5xx, timeouts and broken connections: worth another try after a pause. A certificate that
    fails verification is not (requests makes SSLError a ConnectionError): the same CA fails again."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
        return True
    if isinstance(exc, SalesforceError) and not isinstance(exc, SalesforceExpiredSession):
        status = getattr(exc, "status", 0) or 0
        return status >= 500 or status == 429
    return False


def is_daily_limit(exc: BaseException) -> bool:
    return isinstance(exc, SalesforceRefusedRequest) and _error_code(exc) == "REQUEST_LIMIT_EXCEEDED"


def _id_list(value: Any) -> tuple[str, ...]:
    """A connection extra that lists user ids: a JSON list, or text separated by commas or spaces."""
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    if isinstance(value, str):
        return tuple(v for v in value.replace(",", " ").split() if v)
    return ()


def is_salesforce_host(instance_url: str | None) -> bool:
    host = (urlparse(instance_url).hostname or "") if instance_url else ""
    return not instance_url or any(host.endswith(s) for s in SALESFORCE_HOST_SUFFIXES)


def check_ca_bundle(ca_bundle: str | None, conn_id: str) -> None:
    """A ``ca_bundle`` that names no file is a configuration error, said before any call is made."""
    if ca_bundle and not Path(ca_bundle).is_file():
        raise GmConfigError(
            f"GM connection {conn_id}: its ca_bundle extra names {ca_bundle}, which does not exist or is not a file"
        )


def direct_session(ca_bundle: str | None) -> requests.Session:
    """A requests session that verifies against ``ca_bundle`` and nothing from the environment.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's ``verify``; with
    ``trust_env`` off, the sandbox's own certificate is the one that counts.
    """
    session = requests.Session()
    session.trust_env = False
    if ca_bundle:
        session.verify = ca_bundle
    return session


class Token(NamedTuple):
    """What an OAuth 2.0 token answer gives: the session, where to use it, and who it signs in as."""

    access_token: str
    instance_url: str
    #: The signed-in user's id: the last part of the answer's identity URL ``id``
    #: (``https://host/id/<orgId>/<userId>``); None when the answer has none.
    user_id: str | None


def user_id_of_identity(identity: Any) -> str | None:
    """The User id (``005...``) at the end of a Salesforce identity URL, None if it is not one."""
    if not isinstance(identity, str):
        return None
    user = identity.rstrip("/").rsplit("/", 1)[-1]
    return user if len(user) in (15, 18) and user.startswith("005") and user.isalnum() else None


@dataclass(frozen=True)
class SignIn:
    """A connection, and the signed-in user's id when the sign-in told it (simple-salesforce's own flows
    keep only the session and instance, so theirs is looked up once, see :meth:`GmClient.own_user_ids`)."""

    sf: Salesforce
    user_id: str | None = None


def client_credentials_token(
    session: requests.Session, instance_url: str, client_id: str, client_secret: str, timeout: float
) -> Token:
    """The OAuth 2.0 client-credentials grant's answer."""
    response = session.post(
        f"{instance_url.rstrip('/')}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        timeout=timeout,
    )
    if response.status_code >= 500:
        raise requests.exceptions.ConnectionError(f"token endpoint answered {response.status_code}")
    if response.status_code != 200:
        # The body names the OAuth error; it never contains the secret we sent.
        raise GmRequestError(
            f"GM CRM sign-in refused ({response.status_code}): {response.text[:200]}",
            status=response.status_code,
        )
    body = response.json()
    return Token(body["access_token"], body.get("instance_url") or instance_url, user_id_of_identity(body.get("id")))


class GmClient:
    """Calls to GM CRM with retries, one re-sign-in, the daily-limit stop and call counting."""

    def __init__(
        self,
        connect: Callable[[], Salesforce | SignIn],
        mapping: GmMapping | None = None,
        *,
        retry_attempts: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        timeout: float = 60.0,
        name: str = "gm_crm",
        ca_bundle: str | None = None,
        integration_user_id: str | None = None,
        echo_user_ids: Sequence[str] = (),
    ) -> None:
        self._connect = connect
        self._sf: Salesforce | None = None
        # Who this client signs in as (configured, or learned at sign-in or from GM once), and other users
        # whose changes at GM are the integration's own doing (see own_user_ids).
        self._user_id = integration_user_id or None
        self.echo_user_ids = tuple(u for u in echo_user_ids if u)
        self.mapping = mapping or load_mapping()
        self.retry_attempts = retry_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.timeout = timeout
        self.name = name
        self.ca_bundle = ca_bundle  # for the message when the certificate fails verification
        self.stats = CallStats()

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_conn_id(cls, conn_id: str = "gm_crm", **kwargs: Any) -> GmClient:
        """A client for the Airflow connection ``conn_id`` (type salesforce)."""
        from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

        connection = SalesforceHook(salesforce_conn_id=conn_id).get_connection(conn_id)
        extras = connection.extra_dejson
        instance_url = extras.get("instance_url") or None
        kwargs.setdefault("integration_user_id", extras.get("integration_user_id") or None)
        kwargs.setdefault("echo_user_ids", _id_list(extras.get("echo_user_ids")))
        requested = kwargs.pop("timeout", None)
        timeout = float(requested or extras.get("timeout") or 60.0)

        if is_salesforce_host(instance_url):

            def connect() -> Salesforce | SignIn:
                # A fresh hook each time: the hook caches its Salesforce object.
                return SalesforceHook(salesforce_conn_id=conn_id).get_conn()

        else:
            ca_bundle = extras.get("ca_bundle") or None
            check_ca_bundle(ca_bundle, conn_id)
            login, password = connection.login or "", connection.password or ""

            def connect() -> Salesforce | SignIn:
                session = direct_session(ca_bundle)
                token = client_credentials_token(session, str(instance_url), login, password, timeout)
                hook = SalesforceHook(salesforce_conn_id=conn_id, session_id=token.access_token, session=session)
                return SignIn(hook.get_conn(), token.user_id)

        return cls(connect, name=conn_id, timeout=timeout, ca_bundle=extras.get("ca_bundle") or None, **kwargs)

    @classmethod
    def direct(
        cls,
        instance_url: str,
        client_id: str,
        client_secret: str,
        ca_bundle: str | None = None,
        **kwargs: Any,
    ) -> GmClient:
        """A client for a Salesforce-compatible server without Airflow (CLI, benchmarks)."""
        timeout = float(kwargs.pop("timeout", 60.0))
        version = (kwargs.get("mapping") or load_mapping()).api_version
        check_ca_bundle(ca_bundle, str(kwargs.get("name", "gm_crm")))

        def connect() -> Salesforce | SignIn:
            session = direct_session(ca_bundle)
            token = client_credentials_token(session, instance_url, client_id, client_secret, timeout)
            sf = Salesforce(
                instance_url=token.instance_url, session_id=token.access_token, session=session, version=version
            )
            return SignIn(sf, token.user_id)

        return cls(connect, timeout=timeout, ca_bundle=ca_bundle, **kwargs)

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            connected = self._call_with_retries("token", self._connect)
            if isinstance(connected, SignIn):
                self._sf = connected.sf
                # The configured id wins: it is what a person checked.
                self._user_id = self._user_id or connected.user_id
            else:
                self._sf = connected
            self.stats.sign_ins += 1
        return self._sf

    def _note_usage(self) -> None:
        usage = getattr(self._sf, "api_usage", None) or {}
        api = usage.get("api-usage")
        if api is not None:
            self.stats.api_used, self.stats.api_max = api.used, api.total

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "GM CRM call failed (%s), try %d of %d; retrying",
            type(exc).__name__ if exc else "?",
            state.attempt_number,
            self.retry_attempts,
        )

    def _call_with_retries(self, kind: str, fn: Callable[[], T]) -> T:
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_exponential_jitter(initial=self.backoff_initial, max=self.backoff_max),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if kind != "token":
                        self.stats.by_kind[kind] += 1
                    return fn()
        except SalesforceExpiredSession:
            raise  # handled by call(): one fresh sign-in
        except SalesforceRefusedRequest as exc:
            if is_daily_limit(exc):
                self._note_usage()
                raise DailyLimitReached("GM CRM daily API request limit reached") from exc
            raise GmRequestError(f"GM CRM refused the {kind} call: {exc.content!r}", exc.status, exc.content) from exc
        except SalesforceMalformedRequest as exc:
            raise GmRequestError(f"GM CRM rejected the {kind} call: {exc.content!r}", exc.status, exc.content) from exc
        except SalesforceError as exc:
            if is_transient(exc):
                raise GmTransientError(f"GM CRM {kind} call kept failing: HTTP {exc.status}") from exc
            raise GmRequestError(f"GM CRM {kind} call failed: HTTP {exc.status}", exc.status, exc.content) from exc
        except requests.exceptions.SSLError as exc:
            raise GmConfigError(
                f"GM CRM {kind} call: the server's certificate failed verification against "
                + (
                    f"the ca_bundle extra of connection {self.name} ({self.ca_bundle})"
                    if self.ca_bundle
                    else f"the system's CAs (connection {self.name} has no ca_bundle extra)"
                )
                + f"; fix the connection, retrying will not help ({type(exc).__name__})"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise GmTransientError(f"GM CRM {kind} call kept failing: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - tenacity returns or raises

    def call(self, kind: str, fn: Callable[[Salesforce], T]) -> T:
        """Run ``fn(sf)`` with retries; on an expired session sign in again once and repeat."""
        try:
            result = self._call_with_retries(kind, lambda: fn(self.sf))
        except SalesforceExpiredSession:
            log.info("GM CRM session expired; signing in again")
            self._sf = None
            try:
                result = self._call_with_retries(kind, lambda: fn(self.sf))
            except SalesforceExpiredSession as exc:
                # Sign in afresh next time (the next cycle, or a caller that tries again later).
                self._sf = None
                log.warning(
                    "GM CRM (%s) refused the new session too; stopping this connection for the cycle", self.name
                )
                raise SessionRefused(self.name) from exc
        self._note_usage()
        return result

    # -- the calls the integration makes -------------------------------------------------------

    def own_user_ids(self) -> tuple[str, ...]:
        """The GM users whose changes are the integration's own: the user it signs in as, then the
        connection's ``echo_user_ids``. The signed-in user comes from the connection's
        ``integration_user_id``, else from the sign-in's answer (the identity URL), else from one
        ``/services/oauth2/userinfo`` call (the provider's JWT and password flows keep only the session);
        it is kept for the client's life, so an import costs that call at most once, never a query."""
        if self._user_id is None:
            _ = self.sf  # signing in may say who we are
        if self._user_id is None:
            info = self.call("identity", self._userinfo)
            self._user_id = user_id_of_identity(info.get("sub")) or info.get("user_id") or None
        if self._user_id is None:
            raise GmRequestError(f"GM CRM ({self.name}) did not say which user the integration signs in as")
        return (self._user_id, *(u for u in self.echo_user_ids if u != self._user_id))

    def _userinfo(self, sf: Salesforce) -> dict[str, Any]:
        response = sf.session.get(
            f"https://{sf.sf_instance}/services/oauth2/userinfo", headers=sf.headers, timeout=self.timeout
        )
        if response.status_code >= 300:
            exception_handler(response, "userinfo")
        body: dict[str, Any] = response.json()
        return body

    def query_pages(self, soql: str, include_deleted: bool = False) -> Iterator[list[dict[str, Any]]]:
        """The records of ``soql``, one page (up to 2,000 records) at a time."""
        page = self.call(
            "query",
            lambda sf: sf.query(
                soql,
                include_deleted=include_deleted,
                timeout=self.timeout,
                headers={"Sforce-Query-Options": f"batchSize={self.mapping.page_size}"},
            ),
        )
        # The next page is asked for before this one is handed over: GM prepares it while the caller
        # stages this one (one request in flight at a time, in order; the session is not used meanwhile by
        # the caller). A caller that stops early costs at most the one page asked for ahead.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gm-query-more") as ahead:
            while True:
                more = None
                if not page.get("done", True) and page.get("nextRecordsUrl"):
                    more = ahead.submit(self._query_more, str(page["nextRecordsUrl"]))
                yield page["records"]
                if more is None:
                    return
                page = more.result()

    def _query_more(self, next_url: str) -> dict[str, Any]:
        page: dict[str, Any] = self.call(
            "query_more", lambda sf: sf.query_more(next_url, identifier_is_url=True, timeout=self.timeout)
        )
        return page

    def upsert_events(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One sObject Collections upsert on the event's external id; one result per record."""
        if not records:
            return []
        if len(records) > self.mapping.event_batch_size:
            raise ValueError(f"at most {self.mapping.event_batch_size} events per call, got {len(records)}")
        path = f"composite/sobjects/{self.mapping.event_object}/{self.mapping.event_external_id}"
        result = self.call(
            "collection_upsert",
            lambda sf: sf.restful(
                path, method="PATCH", json={"allOrNone": False, "records": records}, timeout=self.timeout
            ),
        )
        if not isinstance(result, list) or len(result) != len(records):
            raise GmRequestError(f"GM CRM answered {len(result or [])} results for {len(records)} events")
        return result

    def upsert_event_graphs(self, graphs: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """One composite graph request: each list of records (one lead's events, in order) is a graph
        GM applies all or nothing; per graph, per record, a collection-shaped result."""
        if not graphs:
            return []
        body = graph.request_body(
            graphs,
            api_version=self.mapping.api_version,
            sobject=self.mapping.event_object,
            external_id=self.mapping.event_external_id,
        )
        answer = self.call(
            "composite_graph", lambda sf: sf.restful("composite/graph", method="POST", json=body, timeout=self.timeout)
        )
        try:
            return graph.results(answer, graphs)
        except graph.GraphAnswerError as exc:
            raise GmRequestError(str(exc), content=answer) from exc

    def limits(self) -> dict[str, Any]:
        """GM's ``/limits/``: ``DailyApiRequests`` with ``Max`` and ``Remaining``."""
        limits: dict[str, Any] = self.call("limits", lambda sf: sf.limits(timeout=self.timeout))
        daily = limits.get("DailyApiRequests") or {}
        if "Max" in daily and "Remaining" in daily:
            self.stats.api_max = int(daily["Max"])
            self.stats.api_used = int(daily["Max"]) - int(daily["Remaining"])
        return limits
