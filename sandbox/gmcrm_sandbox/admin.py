"""A typed client of the admin API (``/__admin__/``), for tests, benchmarks and the demo."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import requests

Json = dict[str, Any]
# "any", "rest", "query", "collection", "token", or a single call kind such as "query_more".
AppliesTo = str


class AdminError(RuntimeError):
    """The admin API refused a request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class AdminClient:
    """Wraps ``/__admin__/``. Verifies TLS against the sandbox's CA.

    ``trust_env = False`` matters: where ``REQUESTS_CA_BUNDLE`` is set (it is on these machines), requests
    would otherwise verify against the environment's bundle and ignore the session's ``verify``.
    """

    def __init__(self, instance_url: str, ca_bundle: str, timeout: float = 30.0) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = ca_bundle

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        response = self.session.request(
            method,
            f"{self.instance_url}/__admin__/{path}",
            json=json,
            params={k: v for k, v in (params or {}).items() if v is not None},
            timeout=self.timeout,
        )
        if response.status_code >= 300:
            try:
                message = str(response.json().get("error") or response.json().get("detail") or response.text)
            except ValueError:
                message = response.text
            raise AdminError(response.status_code, message)
        return response.json()

    # ------------------------------------------------------------------------------------------ state

    def health(self) -> Json:
        """``{"status": "ok", "instance_url", "leads", "events", "receipts"}``."""
        result: Json = self._call("GET", "health")
        return result

    def reset(self, empty: bool = False) -> Json:
        """Back to the generated state (or no leads at all): no events, counters and usage zero, no faults."""
        result: Json = self._call("POST", "reset", json={"empty": empty})
        return result

    def generate(
        self,
        leads_per_dealer: int,
        *,
        seed: int = 42,
        dealers: int | None = None,
        dealer_codes: Sequence[str] | None = None,
        now: str | None = None,
        arrived_now: bool = False,
    ) -> Json:
        """Add generated leads; ``{"created", "dealer_codes", ...}``. ``arrived_now``: every lead created
        and modified now (new leads since the last import), not stamped over the past."""
        body: Json = {"seed": seed, "leads_per_dealer": leads_per_dealer, "now": now, "arrived_now": arrived_now}
        if dealer_codes is not None:
            body["dealer_codes"] = list(dealer_codes)
        else:
            body["dealers"] = dealers or 1
        result: Json = self._call("POST", "generate", json=body)
        return result

    def set_clock(self, now: str | None = None, advance_seconds: float = 0.0) -> str:
        """Freeze the server clock at ``now``, move it on, or (neither) return to real time; the new now."""
        result: Json = self._call("POST", "clock", json={"now": now, "advance_seconds": advance_seconds})
        return str(result["now"])

    # ------------------------------------------------------------------------------------------ leads

    def create_leads(self, leads: Iterable[Mapping[str, Any]]) -> list[Json]:
        """Create leads (Id made up when absent); returns them as stored."""
        result: list[Json] = self._call("POST", "leads", json=[dict(lead) for lead in leads])
        return result

    def create_lead(self, **fields: Any) -> Json:
        return self.create_leads([fields])[0]

    def update_lead(self, lead_id: str, **fields: Any) -> Json:
        """Change fields; SystemModstamp moves to now unless given (a late commit)."""
        result: Json = self._call("PATCH", f"leads/{lead_id}", json=fields)
        return result

    def delete_lead(self, lead_id: str) -> Json:
        """Soft delete: IsDeleted true (only queryAll sees it)."""
        result: Json = self._call("DELETE", f"leads/{lead_id}")
        return result

    def changed_leads(self, since: str) -> int:
        """How many leads (deleted ones too) have a SystemModstamp after ``since`` (ISO 8601)."""
        result: Json = self._call("GET", "leads-changed", params={"since": since})
        return int(result["count"])

    def get_lead(self, lead_id: str) -> Json:
        result: Json = self._call("GET", f"leads/{lead_id}")
        return result

    def leads(self, dealer_code: str | None = None, include_deleted: bool = True) -> list[Json]:
        result: list[Json] = self._call(
            "GET", "leads", params={"dealer_code": dealer_code, "include_deleted": str(include_deleted).lower()}
        )
        return result

    # ----------------------------------------------------------------------------------------- events

    def events(self, lead_id: str | None = None) -> list[Json]:
        """Lead events in order of first receipt: their fields plus ``receipts`` and ``applied``."""
        result: list[Json] = self._call("GET", "events", params={"lead_id": lead_id})
        return result

    def receipts(self, lead_id: str | None = None) -> list[Json]:
        """Every record of every collection call, resends and failures included, in order."""
        result: list[Json] = self._call("GET", "receipts", params={"lead_id": lead_id})
        return result

    def changes(self, since: str) -> Json:
        """How many leads GM's users and the API (the integration user) changed at or after ``since``:
        ``leads_changed_by_gm``, ``leads_changed_by_api``, ``leads_changed_by_both``, and the two user ids."""
        result: Json = self._call("GET", "changes", params={"since": since})
        return result

    # --------------------------------------------------------------------------------- calls, limits

    def calls(self) -> Json:
        """Counts by kind (token, query, query_more, query_all, sobject_get, collection_upsert,
        composite_graph, limits, other), ``total``, and ``api_usage`` {used, max}."""
        result: Json = self._call("GET", "calls")
        return result

    def limits(self) -> Json:
        result: Json = self._call("GET", "limits")
        return result

    def set_limits(self, max: int | None = None, used: int | None = None) -> Json:
        result: Json = self._call("POST", "limits", json={"max": max, "used": used})
        return result

    # ----------------------------------------------------------------------------------------- faults

    def add_fault(self, spec: Mapping[str, Any]) -> Json:
        """Inject any fault (see ``gmcrm_sandbox.faults``)."""
        result: Json = self._call("POST", "faults", json=dict(spec))
        return result

    def fail_next(self, status: int = 503, count: int = 1, applies_to: AppliesTo = "any", html: bool = False) -> Json:
        """The next ``count`` matching calls answer ``status`` (an HTML body when ``html``)."""
        return self.add_fault(
            {"kind": "status", "status": status, "count": count, "applies_to": applies_to, "html": html}
        )

    def add_latency(self, seconds: float, count: int = 1, applies_to: AppliesTo = "any") -> Json:
        """The next ``count`` matching calls wait ``seconds`` before answering (then do their work)."""
        return self.add_fault({"kind": "latency", "seconds": seconds, "count": count, "applies_to": applies_to})

    def expire_sessions(self) -> Json:
        """Every token issued so far becomes invalid (next call: 401 INVALID_SESSION_ID)."""
        return self.add_fault({"kind": "expire_sessions"})

    def drop_connections(self, count: int = 1, applies_to: AppliesTo = "any", *, after_applying: bool = False) -> Json:
        """The next ``count`` matching calls get no answer: the connection is aborted, before GM did
        anything or (``after_applying``) after GM applied the call in full."""
        return self.add_fault(
            {"kind": "drop", "count": count, "applies_to": applies_to, "when": "after" if after_applying else "before"}
        )

    def refuse_sessions(self, count: int = 1) -> Json:
        """Every session expires now, and the next ``count`` sign-ins get a token refused from its first use
        (401 ``INVALID_SESSION_ID``): a session refused again right after signing in again."""
        return self.add_fault({"kind": "refuse_sessions", "count": count})

    def exhaust_daily_limit(self) -> Json:
        """Usage set to the maximum: calls answer 403 REQUEST_LIMIT_EXCEEDED until limits change."""
        return self.add_fault({"kind": "daily_limit"})

    def record_errors(
        self,
        count: int = 1,
        *,
        dms_event_ids: Sequence[str] | None = None,
        status_code: str = "UNABLE_TO_LOCK_ROW",
    ) -> Json:
        """The next ``count`` records of collection upserts and composite graph nodes (or each of
        ``dms_event_ids``, ``count`` times) fail with ``status_code``."""
        spec: Json = {"kind": "record_error", "status_code": status_code, "count": count}
        if dms_event_ids is not None:
            spec["dms_event_ids"] = list(dms_event_ids)
        return self.add_fault(spec)

    def faults(self) -> list[Json]:
        result: list[Json] = self._call("GET", "faults")
        return result

    def clear_faults(self) -> Json:
        result: Json = self._call("DELETE", "faults")
        return result
