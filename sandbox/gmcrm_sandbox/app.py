"""The web layer: OAuth token endpoint, the REST API under ``/services/data``, the admin API.

What applies to every REST call lives here, in this order, mirroring where Salesforce does it:

1. URI over 16,384 characters: ``414`` (rejected at the edge: not a call, not counted);
2. the call is counted by kind (``/__admin__/calls``), whatever happens next;
3. injected latency, then an injected status (the edge failing: no API usage counted), then a
   connection dropped before GM did anything (``drop`` with ``when: before``);
4. the bearer token: ``401 INVALID_SESSION_ID`` (no usage counted);
5. the daily limit: ``403 REQUEST_LIMIT_EXCEEDED`` once usage reached the maximum (no usage counted);
6. one unit of API usage, then the resource itself; a ``400``/``404`` from it still used the unit;
7. a connection dropped after GM applied the call (``drop`` with ``when: after``): the answer is lost.

Every REST response from step 4 on (and the 404 of an unknown version) carries ``Sforce-Limit-Info: api-usage=N/M``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from typing import Any, Final
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from . import records, rest
from .access import ORG_ID, USER_ID
from .admin_api import build_admin_router
from .drops import DropConnections, mark_dropped
from .errors import ApiError
from .faults import SERVICE_UNAVAILABLE_HTML, STATUS_ERRORS, Fault
from .store import Org

MAX_URI: Final = 16384
JSON_TYPE: Final = "application/json;charset=UTF-8"
_VERSION_PREFIX: Final = "v"


def encode(body: Any) -> bytes:
    return records.encode_json(body)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(content=encode(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def _dispatch_encoded(
    org: Org, req: rest.RestRequest, route: rest.Route | None, match: re.Match[str] | None
) -> tuple[int, bytes]:
    status, body = rest.dispatch(org, req, route, match)
    return status, encode(body)


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> Response:
    return json_response(exc.status, exc.body(), headers)


def fault_response(fault: Fault) -> Response:
    if fault.html:
        return Response(content=SERVICE_UNAVAILABLE_HTML, status_code=fault.status, media_type="text/html")
    code, message = STATUS_ERRORS.get(fault.status, ("SERVER_UNAVAILABLE", "Injected fault"))
    return json_response(fault.status, [{"message": fault.message or message, "errorCode": fault.error_code or code}])


def _uri_length(request: Request) -> int:
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    query: bytes = request.scope.get("query_string") or b""
    return len(raw_path) + (1 + len(query) if query else 0)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # Salesforce accepts both "Bearer" and the older "OAuth" scheme.
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


async def _apply_faults(org: Org, kind: str, request: Request) -> Response | None:
    latency = org.faults.take("latency", kind)
    if latency is not None:
        await asyncio.sleep(latency.seconds)
    status = org.faults.take("status", kind)
    if status is not None:
        return fault_response(status)
    if org.faults.take_drop(kind, "before"):
        mark_dropped(request.scope)
        return Response(status_code=204)  # never reaches the client
    return None


def _drop_after(org: Org, kind: str, request: Request, response: Response) -> Response:
    """The call is done (GM applied it); a ``drop`` fault ``after`` loses its answer on the way back."""
    if org.faults.take_drop(kind, "after"):
        mark_dropped(request.scope)
    return response


def create_app(org: Org) -> DropConnections:
    """The ASGI app serving ``org`` (FastAPI inside the layer that drops connections on purpose)."""
    return DropConnections(_create_fastapi(org))


def _create_fastapi(org: Org) -> FastAPI:
    app = FastAPI(
        title="GM CRM sandbox",
        description="A local stand-in for GM's Salesforce org (see the package docstring).",
        docs_url="/__admin__/docs",
        openapi_url="/__admin__/openapi.json",
        redoc_url=None,
    )
    app.state.org = org

    @app.post("/services/oauth2/token", include_in_schema=False)
    async def token(request: Request) -> Response:
        org.access.record_call("token")
        faulted = await _apply_faults(org, "token", request)
        if faulted is not None:
            return faulted
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        form |= {k: v for k, v in request.query_params.items() if k not in form}
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            return json_response(
                400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}
            )
        access_token = org.access.issue_token(form.get("client_id", ""), form.get("client_secret", ""))
        if access_token is None:
            return json_response(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if org.faults.take_refused_sign_in():
            org.access.revoke(access_token)  # signed in, yet refused from its first use
        instance_url = f"https://{request.headers.get('host', request.url.netloc)}"
        identity = f"{instance_url}/id/{ORG_ID}/{USER_ID}"
        issued_at = str(int(time.time() * 1000))
        # As Salesforce signs it: HMAC-SHA256 of id + issued_at with the client secret, base64.
        digest = hmac.new(org.config.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        return _drop_after(
            org,
            "token",
            request,
            json_response(
                200,
                {
                    "access_token": access_token,
                    "instance_url": instance_url,
                    "id": identity,
                    "token_type": "Bearer",
                    "issued_at": issued_at,
                    "signature": base64.b64encode(digest.digest()).decode(),
                },
            ),
        )

    @app.get("/services/oauth2/userinfo", include_in_schema=False)
    async def userinfo(request: Request) -> Response:
        # OpenID Connect's UserInfo, as Salesforce serves it: who the bearer token signs in as. Not a REST API
        # call (no usage counted); a client whose sign-in flow threw the token answer's ``id`` away asks here.
        org.access.record_call("other")
        token_value = _bearer(request)
        user_id = org.access.user_of(token_value) if token_value is not None else None
        if user_id is None:
            return Response(status_code=403, content=b"Forbidden", media_type="text/plain")
        instance_url = f"https://{request.headers.get('host', request.url.netloc)}"
        return json_response(
            200,
            {
                "sub": f"{instance_url}/id/{ORG_ID}/{user_id}",
                "user_id": user_id,
                "organization_id": ORG_ID,
                "preferred_username": f"{org.config.client_id}@gmcrm.sandbox",
                "active": True,
            },
        )

    @app.get("/services/data", include_in_schema=False)
    @app.get("/services/data/", include_in_schema=False)
    async def versions() -> Response:
        # Salesforce answers this one without authentication.
        org.access.record_call("other")
        return json_response(
            200,
            [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": f"{v}"} for v in ("58.0", "59.0", "60.0")],
        )

    @app.api_route(
        "/services/data/{version}/{resource:path}",
        methods=["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"],
        include_in_schema=False,
    )
    @app.api_route(
        "/services/data/{version}",
        methods=["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"],
        include_in_schema=False,
    )
    async def data(request: Request, version: str, resource: str = "") -> Response:
        length = _uri_length(request)
        if length > MAX_URI:
            return json_response(
                414,
                [{"errorCode": "URI_TOO_LONG", "message": f"The request URI is too long: {length} > {MAX_URI}"}],
            )
        # Read the body first: a request that arrived is processed even if its client then gives up
        # (latency fault + client timeout), as a real server would.
        body = await request.body()
        resource = resource.strip("/")
        route, match = rest.classify(resource)
        kind = route.kind(request.method) if route is not None else "other"
        org.access.record_call(kind)
        faulted = await _apply_faults(org, kind, request)
        if faulted is not None:
            return faulted
        if not (version.startswith(_VERSION_PREFIX) and _is_version(version[1:])):
            return error_response(
                ApiError(404, "NOT_FOUND", "The requested resource does not exist"), _limit_header(org)
            )
        token_value = _bearer(request)
        user_id = org.access.user_of(token_value) if token_value is not None else None
        if user_id is None:
            return error_response(ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid"), _limit_header(org))
        if not org.access.consume():
            return error_response(
                ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), _limit_header(org)
            )
        req = rest.RestRequest(
            method=request.method,
            resource=resource,
            version=version[1:],
            params=dict(request.query_params),
            headers=dict(request.headers),
            body=body,
            user_id=user_id,
        )
        try:
            # In a worker thread, JSON encoding included: a large query page or collection must not stall
            # other connections (the org has its own lock).
            status, content = await run_in_threadpool(_dispatch_encoded, org, req, route, match)
        except ApiError as exc:
            return _drop_after(org, kind, request, error_response(exc, _limit_header(org)))
        return _drop_after(
            org,
            kind,
            request,
            Response(content=content, status_code=status, media_type=JSON_TYPE, headers=_limit_header(org)),
        )

    app.include_router(build_admin_router(org))
    return app


def _is_version(text: str) -> bool:
    major, dot, minor = text.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit() and len(minor) == 1


def _limit_header(org: Org) -> dict[str, str]:
    used, max_ = org.access.usage()
    return {"Sforce-Limit-Info": f"api-usage={used}/{max_}"}
