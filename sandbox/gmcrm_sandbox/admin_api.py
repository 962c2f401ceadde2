"""The admin API under ``/__admin__/``: for tests and people, no Salesforce authentication, plain JSON.

Not part of Salesforce: nothing here counts as an API call or as API usage. Errors answer
``{"error": "..."}`` with 400 (bad input), 404 (unknown lead) or 409 (duplicate Id).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from . import records, timefmt
from .errors import AdminError
from .faults import FaultSpecError
from .generate import dealer_codes_for
from .store import Org


class ResetBody(BaseModel):
    empty: bool = Field(default=False, description="true: no leads at all; false: the leads generated at start")


class GenerateBody(BaseModel):
    seed: int = 42
    dealers: int | None = Field(default=None, ge=1, le=100_000, description="BR0001..BRnnnn")
    dealer_codes: list[str] | None = Field(default=None, description="explicit dealer codes (instead of dealers)")
    leads_per_dealer: int = Field(default=20, ge=0, le=1_000_000)
    now: str | None = Field(default=None, description="generation time (default: the server clock)")
    arrived_now: bool = Field(
        default=False,
        description="stamp every lead created and modified now (new leads arriving), not spread over the past",
    )


class LimitsBody(BaseModel):
    max: int | None = Field(default=None, ge=0)
    used: int | None = Field(default=None, ge=0)


class ClockBody(BaseModel):
    now: str | None = Field(default=None, description="freeze the clock at this datetime")
    advance_seconds: float = Field(default=0.0, description="move the (frozen) clock on")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _parse_dt(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return timefmt.parse_sf(text)
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None


def build_admin_router(org: Org) -> APIRouter:
    router = APIRouter(prefix="/__admin__", tags=["admin"])

    async def guarded(fn: Any, *args: Any, **kwargs: Any) -> Response:
        """Run an org operation in a worker thread and map its refusals to JSON errors."""
        try:
            result = await run_in_threadpool(fn, *args, **kwargs)
        except AdminError as exc:
            return _error(exc.status, exc.message)
        except FaultSpecError as exc:
            return _error(400, str(exc))
        # Not JSONResponse: a stored lone surrogate must come back as a \u escape, not fail the answer.
        return Response(content=records.encode_json(result), media_type="application/json")

    @router.get("/health")
    async def health(request: Request) -> Response:
        host = request.headers.get("host", request.url.netloc)
        return JSONResponse({"status": "ok", "instance_url": f"https://{host}", **org.stats()})

    @router.post("/reset")
    async def reset(body: ResetBody | None = None) -> Response:
        return await guarded(org.reset, (body or ResetBody()).empty)

    @router.post("/generate")
    async def generate(body: GenerateBody) -> Response:
        if body.dealer_codes:
            codes = body.dealer_codes
        elif body.dealers:
            codes = dealer_codes_for(body.dealers)
        else:
            return _error(400, "give dealers or dealer_codes")

        def run() -> dict[str, Any]:
            created = org.generate(
                body.seed, codes, body.leads_per_dealer, _parse_dt(body.now), arrived_now=body.arrived_now
            )
            return {"created": created, "dealer_codes": codes, **org.stats()}

        return await guarded(run)

    @router.post("/leads")
    async def create_leads(leads: list[dict[str, Any]] = Body(...)) -> Response:  # noqa: B008 - FastAPI idiom
        return await guarded(org.create_leads, leads)

    @router.get("/leads")
    async def list_leads(dealer_code: str | None = None, include_deleted: bool = True) -> Response:
        return await guarded(org.list_leads, dealer_code, include_deleted)

    @router.get("/leads-changed")
    async def leads_changed(since: str) -> Response:
        return await guarded(lambda: {"count": org.count_changed_leads(_parse_dt(since)), "since": since})

    @router.get("/leads/{lead_id}")
    async def get_lead(lead_id: str) -> Response:
        return await guarded(org.get_lead, lead_id)

    @router.patch("/leads/{lead_id}")
    async def update_lead(lead_id: str, changes: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
        return await guarded(org.update_lead, lead_id, changes)

    @router.delete("/leads/{lead_id}")
    async def delete_lead(lead_id: str) -> Response:
        return await guarded(org.delete_lead, lead_id)

    @router.get("/events")
    async def events(lead_id: str | None = None) -> Response:
        return await guarded(org.list_events, lead_id)

    @router.get("/receipts")
    async def receipts(lead_id: str | None = None) -> Response:
        return await guarded(org.list_receipts, lead_id)

    @router.get("/calls")
    async def calls() -> Response:
        return JSONResponse(org.access.calls())

    @router.get("/limits")
    async def get_limits() -> Response:
        return await guarded(org.access.set_limits)

    @router.post("/limits")
    async def set_limits(body: LimitsBody) -> Response:
        return await guarded(org.access.set_limits, body.max, body.used)

    @router.get("/faults")
    async def list_faults() -> Response:
        return JSONResponse(org.faults.describe())

    @router.post("/faults")
    async def add_fault(spec: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
        return await guarded(org.add_fault, spec)

    @router.delete("/faults")
    async def clear_faults() -> Response:
        return await guarded(org.clear_faults)

    @router.post("/clock")
    async def clock(body: ClockBody) -> Response:
        def run() -> dict[str, Any]:
            now = org.set_clock(_parse_dt(body.now), body.advance_seconds)
            return {"now": timefmt.format_sf(now)}

        return await guarded(run)

    return router
