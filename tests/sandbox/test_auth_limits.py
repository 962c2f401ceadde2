"""Signing in, expired sessions, API usage, the daily limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest
from simple_salesforce.util import Usage

from gmcrm_sandbox.admin import AdminClient
from gmcrm_sandbox.process import SandboxProcess

QUERY = "SELECT Id FROM Opportunity LIMIT 1"


def test_token_answer_shape(sandbox: SandboxProcess, admin: AdminClient, http: requests.Session) -> None:
    response = http.post(
        f"{sandbox.instance_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "gmcrm", "client_secret": "sandbox-secret"},
        timeout=10,
    )
    body = response.json()
    assert set(body) == {"access_token", "instance_url", "token_type", "issued_at", "signature", "id"}
    assert body["token_type"] == "Bearer" and body["instance_url"] == sandbox.instance_url
    assert body["issued_at"].isdigit()
    calls = admin.calls()
    assert calls["token"] == 1 and calls["api_usage"]["used"] == 0  # token calls are not API usage


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "gmcrm", "client_secret": "wrong"}, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "other", "client_secret": "sandbox-secret"},
            "invalid_client",
        ),
        ({"grant_type": "password", "client_id": "gmcrm", "client_secret": "sandbox-secret"}, "unsupported_grant_type"),
    ],
)
def test_bad_credentials(sandbox: SandboxProcess, http: requests.Session, form: dict[str, str], error: str) -> None:
    response = http.post(f"{sandbox.instance_url}/services/oauth2/token", data=form, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_without_a_live_token_401_with_an_array_body(sandbox: SandboxProcess, http: requests.Session) -> None:
    response = http.get(f"{sandbox.instance_url}/services/data/v59.0/limits/", timeout=10)
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    bogus = Salesforce(instance_url=sandbox.instance_url, session_id="00Dxx!nope", session=http)
    with pytest.raises(SalesforceExpiredSession) as err:
        bogus.query(QUERY)
    assert err.value.status == 401


def test_expired_sessions_then_a_fresh_token_works(
    sandbox: SandboxProcess, sf: Salesforce, admin: AdminClient, http: requests.Session, new_token: Callable[[], str]
) -> None:
    sf.query(QUERY)
    assert admin.expire_sessions()["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query(QUERY)
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"

    fresh = Salesforce(instance_url=sandbox.instance_url, session_id=new_token(), session=http)
    assert fresh.query(QUERY)["totalSize"] == 1
    with pytest.raises(SalesforceExpiredSession):
        sf.query(QUERY)  # the old token stays dead


def test_api_usage_header_and_limits(sandbox: SandboxProcess, sf: Salesforce, admin: AdminClient) -> None:
    sf.query(QUERY)
    sf.query(QUERY)
    assert sf.api_usage["api-usage"] == Usage(used=2, total=15000)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 3}
    assert sf.api_usage["api-usage"] == Usage(used=3, total=15000)
    calls = admin.calls()
    assert (calls["query"], calls["limits"], calls["api_usage"]) == (2, 1, {"used": 3, "max": 15000})


def test_limit_header_on_errors_too(sandbox: SandboxProcess, sf: Salesforce, http: requests.Session) -> None:
    response = http.get(
        f"{sandbox.instance_url}/services/data/v59.0/query/",
        params={"q": "SELECT Nope FROM Opportunity"},
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.headers["Sforce-Limit-Info"] == "api-usage=1/15000"


def test_daily_limit(sf: Salesforce, admin: AdminClient) -> None:
    admin.set_limits(max=3)
    for _ in range(3):
        sf.query(QUERY)
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query(QUERY)
    assert err.value.status == 403
    assert err.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    with pytest.raises(SalesforceRefusedRequest):
        sf.limits()
    calls = admin.calls()
    assert calls["api_usage"] == {"used": 3, "max": 3}  # refused calls use nothing
    assert calls["query"] == 4 and calls["limits"] == 1  # but they are counted as calls

    admin.set_limits(used=0)
    assert sf.query(QUERY)["totalSize"] == 1


def test_daily_limit_fault(sf: Salesforce, admin: AdminClient) -> None:
    sf.query(QUERY)
    admin.exhaust_daily_limit()
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.restful("composite/sobjects/Lead_Event__c/DMS_Event_Id__c", method="PATCH", json={"records": []})
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert admin.calls()["api_usage"] == {"used": 15000, "max": 15000}
    admin.reset()
    assert sf.query(QUERY)["totalSize"] == 1
