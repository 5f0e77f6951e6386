"""HubSpot error bodies.

Shape (facts §2.1): ``{"status":"error","message":..,"correlationId":uuid,"category":..,
"subCategory"?,"errors"?:[{"message","code","context"?}],"context"?}``.
Per-item batch errors (``StandardError``) carry ``status, category, message, context,
errors, links``.
"""

from __future__ import annotations

import json
import uuid


def correlation_id() -> str:
    return str(uuid.uuid4())


class ApiError(Exception):
    """Raised by handlers; turned into an HTTP response by the app."""

    def __init__(self, status: int, body: dict, headers: dict | None = None) -> None:
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(category: str, message: str, **extra) -> dict:
    body = {"status": "error", "message": message, "correlationId": correlation_id(), "category": category}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def validation(message: str, **extra) -> ApiError:
    return ApiError(400, error_body("VALIDATION_ERROR", message, **extra))


def not_found(message: str = "resource not found") -> ApiError:
    return ApiError(404, error_body("OBJECT_NOT_FOUND", message))


def conflict(message: str) -> ApiError:
    return ApiError(409, error_body("CONFLICT", message))


def property_problem(name: str, code: str, message: str) -> dict:
    """One entry of the ``Property values were not valid`` list."""
    return {"isValid": False, "message": message, "error": code, "name": name}


def property_values_error(problems: list[dict]) -> ApiError:
    """400 for bad property values, worded like HubSpot's (facts §2.1)."""
    text = "Property values were not valid: " + json.dumps(problems, separators=(",", ":"))
    errors = [
        {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
        for p in problems
    ]
    return validation(text, errors=errors)


def standard_error(category: str, message: str, context: dict | None = None, sub_category=None) -> dict:
    """A per-item error inside a 207 body."""
    err = {"status": "error", "category": category, "message": message,
           "context": context or {}, "errors": [], "links": {}}
    if sub_category:
        err["subCategory"] = sub_category
    return err


def unauthorized(expired_seconds: int | None = None) -> ApiError:
    if expired_seconds is not None:
        return ApiError(401, error_body(
            "EXPIRED_AUTHENTICATION",
            f"The OAuth token used to make this call expired {expired_seconds} second(s) ago."))
    return ApiError(401, error_body(
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"))


def batch_inputs(body, limit: int) -> list:
    """The `inputs` list of a batch request body, or the 400 HubSpot gives for a bad one."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise validation("Invalid input: expected an object with an 'inputs' list.")
    inputs = body["inputs"]
    if len(inputs) > limit:
        raise validation(f"Batch input size {len(inputs)} exceeds the maximum of {limit} inputs.",
                         context={"maxInputs": [str(limit)]})
    return inputs
