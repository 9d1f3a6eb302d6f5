"""HTTP authentication: the OAuth2 token endpoint, the published keys and bearer tokens.

Routes (documented in OpenAPI), mounted by ``create_app(..., security=...)``:

- ``POST /auth/token``: RFC 6749 token requests (form-encoded), the client
  authenticated by HTTP Basic or by ``client_id``/``client_secret`` form
  fields; answers carry ``Cache-Control: no-store`` and refusals are RFC 6749
  section 5.2 bodies.
- ``GET /.well-known/jwks.json``: the public keys.
- ``GET /.well-known/oauth-authorization-server``: RFC 8414 metadata.

:class:`BearerAuthentication` runs on every other route: without an
``Authorization`` header the caller is anonymous; with one, it must be
``Bearer <token>`` and the token must verify, else the answer is 401 with
``WWW-Authenticate: Bearer error="invalid_token"``. The principal is bound
for the request (:func:`hexkernel.core.security.current_principal`) and is
also ``request.user``. A handler or guard that needs a caller raises
:class:`hexkernel.core.errors.AuthenticationRequired`, or uses the
:func:`requires_authentication` guard.
"""

import base64
import binascii
import copy
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.openapi.spec import Operation, Reference, SecurityScheme
from litestar.types import ASGIApp, Receive, Scope, Send

from hexkernel.application.auth import OAuthError
from hexkernel.core.errors import AuthenticationRequired, InvalidToken
from hexkernel.core.security import ANONYMOUS, as_principal, current_principal
from hexkernel.interfaces.bootstrap import Security

__all__ = (
    "SKIP_AUTHENTICATION",
    "BearerAuthentication",
    "auth_components",
    "auth_routes",
    "requires_authentication",
    "security_schemes",
)

SKIP_AUTHENTICATION = "skip_authentication"
"""The ``opt`` key that exempts a route handler from bearer authentication."""

_TOKEN68 = re.compile(r"^[A-Za-z0-9\-._~+/]+=*$")
# The well-formed header in one match (the common case); anything else goes
# through _bearer_token, which says what is wrong.
_BEARER = re.compile(rb"[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"
_REF = "#/components/schemas/"


def _bearer_token(values: list[bytes]) -> str:
    if len(values) != 1:
        raise InvalidToken("malformed", "send exactly one Authorization header")
    try:
        text = values[0].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidToken("malformed", "the Authorization header is not ASCII") from None
    scheme, _, token = text.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not _TOKEN68.match(token):
        raise InvalidToken("malformed", "the Authorization header must be 'Bearer <token>'")
    return token


def _header_token(values: list[bytes]) -> str:
    """The token of the ``Authorization`` headers: a well-formed one in one match, else as above."""
    if len(values) == 1:
        found = _BEARER.fullmatch(values[0])
        if found is not None:
            return found.group(1).decode("ascii")
    return _bearer_token(values)


class BearerAuthentication(ASGIMiddleware):
    """Authenticate ``Authorization: Bearer`` tokens and bind the principal for the request.

    Route handlers whose ``opt`` holds ``skip_authentication`` are left alone
    (the token endpoint, which uses HTTP Basic for clients, and the public
    documents).
    """

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = SKIP_AUTHENTICATION

    def __init__(self, security: Security) -> None:
        self._authenticator = security.authenticator

    def __call__(self, app: ASGIApp) -> ASGIApp:
        """Wrap one route's app.

        Leaner than ``ASGIMiddleware``'s generic wrapper (which also handles
        path patterns and keyword calls), as it runs on every request: HTTP
        only, and not where the handler's ``opt`` holds ``skip_authentication``.
        """
        handle = self.handle

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            handler = scope.get("route_handler")
            if scope["type"] != ScopeType.HTTP or (
                handler is not None and handler.opt.get(SKIP_AUTHENTICATION)
            ):
                await app(scope, receive, send)
            else:
                await handle(scope, receive, send, app)

        return middleware

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Authenticate the request, then run the rest of the stack as that principal."""
        values = [v for k, v in scope["headers"] if k == b"authorization"]
        principal = ANONYMOUS
        if values:
            principal = await self._authenticator.authenticate(_header_token(values))
        scope["user"] = principal
        with as_principal(principal):
            await next_app(scope, receive, send)


def requires_authentication(_: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
    """A Litestar guard: refuse anonymous callers with 401.

    Raises:
        AuthenticationRequired: Nobody is authenticated.
    """
    if not current_principal().is_authenticated:
        raise AuthenticationRequired


def _oauth_error(exc: OAuthError) -> Response[Any]:
    headers = dict(_NO_STORE)
    if exc.status == 401:  # noqa: PLR2004
        headers["WWW-Authenticate"] = 'Basic realm="token", charset="UTF-8"'
    return Response(exc.as_dict(), status_code=exc.status, headers=headers)


def _basic_credentials(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "the client must authenticate with HTTP Basic")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "the Basic credentials are malformed") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise OAuthError("invalid_client", "the Basic credentials are malformed")
    # RFC 6749 section 2.3.1 form-encodes both parts before base64; clients
    # differ on "+", so only percent escapes are decoded (as Authlib encodes).
    return unquote(client_id), unquote(secret)


def _client_of(
    request: Request[Any, Any, Any], params: dict[str, str]
) -> tuple[str | None, str | None]:
    """The client's id and secret, from HTTP Basic or from the form (never both)."""
    basic = _basic_credentials(request)
    if basic is None:
        return params.get("client_id"), params.get("client_secret")
    if "client_secret" in params or params.get("client_id", basic[0]) != basic[0]:
        raise OAuthError("invalid_request", "use one client authentication method")
    return basic


async def _token_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise OAuthError("invalid_request", f"the body must be {_FORM}")
    form = await request.form()
    params: dict[str, str] = {}
    for key in form:
        values = form.getall(key)
        if len(values) != 1 or not isinstance(values[0], str):
            raise OAuthError("invalid_request", f"{key} must be given once")
        params[key] = values[0]
    return params


_TOKEN_SUCCESS = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
    },
}
_TOKEN_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "enum": [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
            ],
        },
        "error_description": {"type": "string"},
    },
}
_TOKEN_REQUEST = {
    "type": "object",
    "required": ["grant_type"],
    "properties": {
        "grant_type": {
            "type": "string",
            "enum": ["password", "client_credentials", "refresh_token"],
        },
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "client_id": {"type": "string"},
        "client_secret": {"type": "string", "format": "password"},
    },
}
_JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
}
_METADATA = {
    "type": "object",
    "required": ["issuer", "token_endpoint", "jwks_uri"],
    "properties": {
        "issuer": {"type": "string"},
        "token_endpoint": {"type": "string"},
        "jwks_uri": {"type": "string"},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "response_types_supported": {"type": "array", "items": {"type": "string"}},
        "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
        "scopes_supported": {"type": "array", "items": {"type": "string"}},
    },
}


def auth_components() -> dict[str, dict[str, Any]]:
    """The OpenAPI component schemas of the authentication routes."""
    return {
        "TokenRequest": _TOKEN_REQUEST,
        "TokenResponse": _TOKEN_SUCCESS,
        "TokenError": _TOKEN_ERROR,
        "JsonWebKeySet": _JWKS,
        "AuthorizationServerMetadata": _METADATA,
    }


def security_schemes() -> dict[str, SecurityScheme | Reference]:
    """The OpenAPI security schemes: bearer JWTs for resources, Basic for OAuth2 clients."""
    return {
        "bearerAuth": SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="An RS256 access token from POST /auth/token",
        ),
        "clientBasic": SecurityScheme(
            type="http", scheme="basic", description="OAuth2 client id and secret"
        ),
    }


def _operation(
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> type[Operation]:
    @dataclass
    class AuthOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            out = super().to_schema()
            out["responses"] = copy.deepcopy(responses)
            if body is not None:
                out["requestBody"] = copy.deepcopy(body)
            if security is not None:
                out["security"] = copy.deepcopy(security)
            return out

    return AuthOperation


def _json(component: str, description: str, headers: dict[str, Any] | None = None) -> Any:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF + component}}},
    }
    if headers:
        out["headers"] = headers
    return out


_NO_STORE_HEADER = {"Cache-Control": {"schema": {"type": "string"}, "description": "no-store"}}


def auth_routes(security: Security) -> list[HTTPRouteHandler]:
    """The token endpoint and the well-known documents (none in resource-server mode)."""
    tokens = security.tokens
    issuer = security.issuer
    if tokens is None or issuer is None:
        return []
    skip = {SKIP_AUTHENTICATION: True}

    @post(
        "/auth/token",
        name="auth:token",
        operation_id="auth-token",
        summary="Obtain tokens (OAuth2 token endpoint)",
        description=(
            "RFC 6749 grants password, client_credentials and refresh_token. Refresh tokens are"
            " single-use; presenting a spent one revokes every token of its login."
        ),
        tags=["auth"],
        opt=skip,
        status_code=200,
        operation_class=_operation(
            {
                "200": _json("TokenResponse", "Tokens issued", _NO_STORE_HEADER),
                "400": _json("TokenError", "The request or the grant is refused"),
                "401": _json("TokenError", "The client is not authenticated"),
            },
            body={
                "required": True,
                "content": {_FORM: {"schema": {"$ref": _REF + "TokenRequest"}}},
            },
            security=[{"clientBasic": []}, {}],
        ),
    )
    async def token(request: Request[Any, Any, Any]) -> Response[Any]:
        try:
            params = await _token_params(request)
            client_id, client_secret = _client_of(request, params)
            issued = await tokens.grant(params, client_id=client_id, client_secret=client_secret)
        except OAuthError as exc:
            return _oauth_error(exc)
        return Response(issued.as_dict(), status_code=200, headers=_NO_STORE)

    @get(
        "/.well-known/jwks.json",
        name="auth:jwks",
        operation_id="auth-jwks",
        summary="The public keys that verify access tokens (JWKS)",
        tags=["auth"],
        opt=skip,
        operation_class=_operation(
            {"200": _json("JsonWebKeySet", "The JSON Web Key Set")}, security=[{}]
        ),
    )
    async def jwks() -> Response[Any]:
        return Response(issuer.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @get(
        "/.well-known/oauth-authorization-server",
        name="auth:metadata",
        operation_id="auth-metadata",
        summary="OAuth2 authorization server metadata (RFC 8414)",
        tags=["auth"],
        opt=skip,
        operation_class=_operation(
            {"200": _json("AuthorizationServerMetadata", "The metadata")}, security=[{}]
        ),
    )
    async def metadata(request: Request[Any, Any, Any]) -> Response[Any]:
        base = str(request.base_url).rstrip("/")
        body = tokens.metadata(
            token_endpoint=f"{base}/auth/token", jwks_uri=f"{base}/.well-known/jwks.json"
        )
        return Response(body, headers={"Cache-Control": "public, max-age=300"})

    return [token, jwks, metadata]
