"""Request-level errors, rendered the way Salesforce renders them.

Salesforce error bodies are JSON arrays (``[{"message", "errorCode"}]``); simple-salesforce reads
``body[0]['errorCode']`` on a 401, so any other shape would crash the client instead of testing it.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answering a whole REST request: an HTTP status and a Salesforce error code."""

    def __init__(self, status: int, error_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        """The JSON array body."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def record_error(status_code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """One entry of a per-record ``errors`` list of an sObject Collections result."""
    return {"statusCode": status_code, "message": message, "fields": list(fields or [])}


class AdminError(Exception):
    """A refused admin API request (bad input, unknown lead): status and a plain message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
