"""HTTP endpoints (Django REST framework): one-shot query, mutation and action calls.

Request body: ``{"path": "messages:list", "args": [{...}], "format": "convex_encoded_json"}``
(``/api/function`` takes ``args`` as the object itself). Replies: ``200`` with
``{"status": "success", "value": ..., "logLines": []}``, ``560`` with
``{"status": "error", "errorMessage": ..., "errorData"?: ...}`` when the function failed,
``400`` with a readable text for a malformed request, ``413`` for a body larger than
``MAX_MESSAGE_BYTES``.

Requests are authenticated by :func:`reactive.security.auth.authentication_classes`: reactive's
bearer tokens, then the project's DRF classes. Requests authenticated by the session cookie
need Django's CSRF token (DRF's ``SessionAuthentication`` enforces it); requests with a
bearer token carry no ambient authority a forged cross-site request could borrow, so they
need none.
"""

from __future__ import annotations

import hmac
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import authentication, exceptions, parsers
from rest_framework.request import Request
from rest_framework.views import APIView

from . import metrics
from .conf import reactive_settings
from .errors import BadRequest, ReactiveError
from .functions.calls import prepare_call
from .functions.execution import Outcome, execute_action, execute_mutation, execute_query_once
from .functions.registry import Kind
from .security import tokens
from .security.auth import authentication_classes, credential_expiry
from .security.origins import origin_allowed

FUNCTION_FAILED = 560
_CORS_HEADERS = "Content-Type, Authorization, Convex-Client"


def _with_cors(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    origin = request.headers.get("Origin")
    if origin and origin_allowed(origin, request):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Headers"] = _CORS_HEADERS
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Credentials"] = "true"
        response["Vary"] = "Origin"
    return response


class _Authenticated(APIView):
    """A view authenticated by :func:`reactive.security.auth.authentication_classes`, read at each request."""

    def get_authenticators(self) -> list[authentication.BaseAuthentication]:
        return [cls() for cls in authentication_classes()]


class FunctionCallView(_Authenticated):
    """POST a call of one public function; ``kind`` None accepts any kind (``/api/function``)."""

    kind: Kind | None = None
    permission_classes: list[Any] = []
    parser_classes = [parsers.JSONParser]

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        return _with_cors(request, super().finalize_response(request, response, *args, **kwargs))

    def post(self, request: Request) -> HttpResponse:
        limit = reactive_settings.MAX_MESSAGE_BYTES
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        if size > limit:
            return HttpResponse(
                f"A body of {size} bytes exceeds MAX_MESSAGE_BYTES={limit}", status=413, content_type="text/plain"
            )
        try:
            path, raw_args, component_path = self._parse(request)
        except BadRequest as exc:
            return HttpResponse(exc.message, status=400, content_type="text/plain")
        try:
            call = prepare_call(path, self.kind, raw_args, component_path)
        except ReactiveError as exc:
            return self._reply(request, Outcome.failure(exc))
        spec, args, user = call.spec, call.args, request.user
        if spec.kind is Kind.QUERY:
            outcome = execute_query_once(spec, args, user)
        elif spec.kind is Kind.MUTATION:
            outcome = execute_mutation(spec, args, user)
        else:
            outcome = async_to_sync(execute_action)(spec, args, user)
        return self._reply(request, outcome)

    def _parse(self, request: Request) -> tuple[str, Any, Any]:
        try:
            body = request.data
        except exceptions.ParseError as exc:
            raise BadRequest(f"Malformed JSON body: {exc.detail}") from None
        except RecursionError:
            raise BadRequest("Malformed JSON body: nested too deeply") from None
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object with 'path' and 'args'")
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise BadRequest("'path' must be a function name such as 'messages:list'")
        fmt = body.get("format", "convex_encoded_json")
        if fmt not in ("convex_encoded_json", "json"):
            raise BadRequest(f"Unsupported format {fmt!r}")
        args = body.get("args", {} if self.kind is None else [{}])
        if self.kind is not None:
            if not isinstance(args, list) or len(args) != 1:
                raise BadRequest("'args' must be a one-element array holding the args object")
            args = args[0]
        return path, args, body.get("componentPath")

    def _reply(self, request: HttpRequest, outcome: Outcome) -> HttpResponse:
        response = JsonResponse(outcome.to_wire(), status=200 if outcome.success else FUNCTION_FAILED)
        # A function's own failure is an answer, not a server error for django.request to log.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response


class QueryView(FunctionCallView):
    kind = Kind.QUERY


class MutationView(FunctionCallView):
    kind = Kind.MUTATION


class ActionView(FunctionCallView):
    kind = Kind.ACTION


class AnyFunctionView(FunctionCallView):
    kind = None


class TokenView(_Authenticated):
    """POST (authenticated): ``{"token": ...}`` for ``Authenticate`` or ``Authorization: Bearer``.

    A token asked for with a credential that expires (a token) expires with it: a stolen token
    cannot be renewed past its own expiry.
    """

    def post(self, request: Request) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Log in first"}, status=401)
        return JsonResponse({"token": tokens.issue(request.user, expires_at=credential_expiry(request.auth))})


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for staff users and for requests bearing ``REACTIVE["METRICS_TOKEN"]``.

    Where a request comes from proves nothing behind a reverse proxy (every request arrives from
    the proxy), so only credentials are trusted.
    """
    user = getattr(request, "user", None)
    if not (_bears_metrics_token(request) or (user is not None and user.is_staff)):
        return HttpResponse("Forbidden", status=403, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4")


def _bears_metrics_token(request: HttpRequest) -> bool:
    expected = reactive_settings.METRICS_TOKEN
    if not expected:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), str(expected).encode())
