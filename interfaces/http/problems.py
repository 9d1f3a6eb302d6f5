"""The one place where errors become HTTP responses: RFC 9457 problem details.

Every error response is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance`` and a stable snake_case ``code``; field
problems are listed under ``errors``. A 500 carries only the request id: the
exception is logged with it, never sent.
"""

import logging
import uuid
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from hexkernel.core.errors import (
    AccessDenied,
    AuthenticationRequired,
    ConcurrencyConflict,
    DomainError,
    DuplicateKey,
    HexkernelError,
    InvalidAggregation,
    InvalidToken,
    IssuerUnavailable,
    NotFound,
    PartialDocument,
    QueryTimeout,
    StoreUnavailable,
    TransactionsUnsupported,
    ValidationError,
)
from hexkernel.interfaces.http.query_params import InvalidQuery

__all__ = ("PROBLEM_JSON", "Problem", "exception_handlers", "problem_response")

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("hexkernel.http")

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class Problem(HexkernelError):
    """An HTTP-level problem raised by the resource handlers themselves."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


def request_id(request: Request[Any, Any, Any]) -> str:
    """The request's id (set by the request-id middleware)."""
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else uuid.uuid4().hex


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """Build an RFC 9457 response."""
    body: dict[str, Any] = {
        "type": f"tag:hexkernel,2026:problem/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    if status >= 500:  # noqa: PLR2004 - server errors
        body["request_id"] = request_id(request)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _from_hexkernel(request: Request[Any, Any, Any], exc: HexkernelError) -> Response[Any]:
    if isinstance(exc, Problem):
        return problem_response(
            request, exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers
        )
    if isinstance(exc, (InvalidToken, AuthenticationRequired, AccessDenied)):
        return _refused_caller(request, exc)
    if isinstance(exc, IssuerUnavailable):
        log.warning("token issuer unavailable (request %s): %s", request_id(request), exc)
        return problem_response(
            request, 503, "service_unavailable", "the token issuer is unavailable"
        )
    if isinstance(exc, ValidationError):
        items = exc.as_list()
        return problem_response(
            request, 400, "validation_error", "the request is not valid", errors=items
        )
    if isinstance(exc, (InvalidQuery, InvalidAggregation, QueryTimeout)):
        return _refused_query(request, exc)
    if isinstance(exc, NotFound):
        return problem_response(request, 404, "not_found", f"no {exc.model} has this id")
    if isinstance(exc, ConcurrencyConflict):
        return problem_response(
            request,
            409,
            "version_conflict",
            f"the {exc.model} was changed concurrently; the current version is {exc.current}",
            errors=[{"field": "version", "code": "version_conflict", "current": exc.current}],
        )
    if isinstance(exc, DuplicateKey):
        fields = [
            {"field": f, "code": "duplicate", "message": "is already taken"} for f in exc.fields
        ]
        return problem_response(request, 409, "duplicate_key", str(exc), errors=fields)
    if isinstance(exc, DomainError):
        return problem_response(request, 409, "domain_error", str(exc))
    if isinstance(exc, PartialDocument):
        return problem_response(request, 409, "partial_document", str(exc))
    if isinstance(exc, (StoreUnavailable, TransactionsUnsupported)):
        log.error("store failure (request %s): %s", request_id(request), exc)
        return problem_response(request, 503, "service_unavailable", "the store is unavailable")
    return _internal(request, exc)


def _refused_caller(
    request: Request[Any, Any, Any],
    exc: InvalidToken | AuthenticationRequired | AccessDenied,
) -> Response[Any]:
    """401 for missing or refused credentials (with ``WWW-Authenticate``), 403 for a rule."""
    if isinstance(exc, InvalidToken):
        return problem_response(
            request,
            401,
            "unauthorized",
            str(exc),
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if isinstance(exc, AccessDenied):
        errors = [
            {"field": f, "code": "forbidden", "message": "you may not set this field"}
            for f in exc.fields
        ]
        return problem_response(request, 403, "forbidden", str(exc), errors=errors or None)
    return problem_response(
        request, 401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}
    )


def _refused_query(
    request: Request[Any, Any, Any], exc: InvalidQuery | InvalidAggregation | QueryTimeout
) -> Response[Any]:
    """A query the grammar or the store refused, or one it stopped: the client's to change."""
    if isinstance(exc, InvalidQuery):
        items = [e.as_dict() for e in exc.errors]
        return problem_response(
            request, 400, "invalid_query", "the query is not valid", errors=items
        )
    if isinstance(exc, InvalidAggregation):
        item = {"field": "pipeline", "code": "invalid_query", "message": exc.reason}
        detail = "the pipeline was refused"
    else:
        item = {"field": "pipeline", "code": "query_timeout", "message": str(exc)}
        detail = "the query ran past its time limit"
    return problem_response(request, 400, "invalid_query", detail, errors=[item])


def _internal(request: Request[Any, Any, Any], exc: BaseException) -> Response[Any]:
    log.error("unhandled error (request %s)", request_id(request), exc_info=exc)
    return problem_response(request, 500, "internal_error", "an internal error occurred")


def _from_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:  # noqa: PLR2004 - server errors
        return _internal(request, exc)
    code = _HTTP_CODES.get(status, "bad_request")
    headers = dict(exc.headers or {})
    return problem_response(request, status, code, str(exc.detail), headers=headers or None)


def exception_handlers() -> dict[type[BaseException], Any]:
    """The Litestar exception handlers of a hexkernel app."""
    return {HexkernelError: _from_hexkernel, HTTPException: _from_http, Exception: _internal}
