"""What every /api/v1/ view shares: who is calling, for which talent, with which scope; errors,
throttling, idempotency and the schema's error responses.

v1 always acts for exactly ONE talent: a token's own, or the console session's current talent
(accounts/current_talent.py). Every queryset is filtered to it, so another talent's object answers
404 exactly like an id that does not exist.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, models, transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from accounts import current_talent
from accounts.actors import Actor, NotAllowed, require
from accounts.api_tokens import ApiToken, IdempotencyKey, idempotency_window, token_authenticate
from accounts.models import Talent


# --- errors -----------------------------------------------------------------------------------
class ApiError(exceptions.APIException):
    """An error with our stable code: raise ApiError(409, "invalid_transition", "...")."""

    def __init__(self, status_code: int, code: str, message: str):
        self.status_code = status_code
        super().__init__(detail=message, code=code)
        self.error_code = code


_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid",
}


def _first_message(detail: Any) -> str:
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()))
        text = _first_message(value)
        return text if key in ("non_field_errors", "detail") else f"{key}: {text}"
    return str(detail)


def exception_handler(exc, context):
    """Every v1 error is JSON {"code", "message"[, "errors"]}; the code is stable, the message human."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You may not do that.")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling (and its logging) takes over
    code = getattr(exc, "error_code", None) or next((c for k, c in _CODES.items() if isinstance(exc, k)), "error")
    body: dict[str, Any] = {"code": code, "message": _first_message(exc.detail)}
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, dict):
        body["errors"] = exc.detail
    if isinstance(exc, exceptions.Throttled):
        body["message"] = f"Too many requests; try again in {int(exc.wait or 1)} seconds."
    response.data = body
    return response


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable: not_found, missing_scope, invalid ...")
    message = serializers.CharField(help_text="For people.")
    errors = serializers.DictField(required=False, help_text="Per-field messages of a 400.")


# Every operation may answer these; the schema says so (schemathesis checks that nothing else comes).
COMMON_ERRORS = {
    "400": "The request is malformed or a value is invalid.",
    "401": "No credentials, or an unknown, expired or revoked token.",
    "403": "The token lacks the scope, or the role does not allow it.",
    "404": "No such object in this talent.",
    "429": "Too many requests (see Retry-After).",
}


class V1AutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in COMMON_ERRORS:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = COMMON_ERRORS[code]
        return responses

    def get_tags(self):
        return [self.path.split("/")[3]] if self.path.count("/") > 3 else super().get_tags()


# --- authentication -----------------------------------------------------------------------------
class BearerTokenAuthentication(BaseAuthentication):
    """Authorization: Bearer fc_live_...; the request runs as the token's creator, for its talent."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("That token is not valid.")
        token = token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("That token is unknown, expired or revoked.")
        return token.created_by, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ConsoleSessionAuthentication(SessionAuthentication):
    """The console's own session (CSRF enforced on writes); it follows the current talent."""


def token_of(request) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def acting_talent(request) -> Talent:
    """The one talent this request acts for."""
    cached = getattr(request, "_v1_talent", None)
    if cached is not None:
        return cached
    token = token_of(request)
    if token is not None:
        talent = token.talent
    else:
        talent = current_talent.current(request)
        if talent is None:
            raise ApiError(
                400, "no_current_talent", "Pick a talent in the console's header first: v1 acts for one talent."
            )
    request._v1_talent = talent
    return talent


class TalentRows:
    """A v1 viewset over one model's rows of the acting talent: name the model in `rows_of` and,
    where a resource narrows, joins or annotates them, override `rows(queryset)`. Every resource
    reads through here, so none can forget the talent filter. drf-spectacular builds the schema
    without a request (so without a talent): it gets an empty queryset of the model."""

    rows_of: type[models.Model]
    request: Any

    def get_queryset(self) -> models.QuerySet:
        if getattr(self, "swagger_fake_view", False):
            return self.rows_of._default_manager.none()
        return self.rows(self.rows_of._default_manager.filter(talent=acting_talent(self.request)))

    def rows(self, queryset: models.QuerySet) -> models.QuerySet:
        return queryset


def require_scope(request, scope: str) -> None:
    """The one permission check (accounts/actors.py `require`) for the talent this request acts for:
    a token needs the scope AND its creator, at this moment, the role the scope needs; a console
    session user needs the role. A refusal is a 403 whose code says which of the two was missing."""
    talent = acting_talent(request)
    token = token_of(request)
    try:
        require(Actor.api_token(token) if token else Actor.member(request.user), scope, talent)
    except NotAllowed:
        if token is None:
            raise ApiError(403, "permission_denied", f"Your role may not do this ({scope}).")
        if scope not in token.scopes:
            raise ApiError(403, "missing_scope", f"This token lacks the {scope} scope.")
        raise ApiError(403, "permission_denied", "The token's creator no longer has the role this needs.")


class ScopePermission(BasePermission):
    """The view's `scopes` map names the scope of each action (method for plain views)."""

    def has_permission(self, request, view) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated("Send 'Authorization: Bearer <token>' (or sign in to the console).")
        method = request.method.lower()
        action = getattr(view, "action", None)
        if method not in view.http_method_names or method == "options" or (hasattr(view, "action_map") and not action):
            return True  # the view answers 405 (or the OPTIONS description): nothing is read or written
        action = action or method
        scope = view.scopes.get(action, view.scopes.get("*"))
        if scope is None:
            raise ApiError(403, "permission_denied", "Not available.")
        if scope:
            require_scope(request, scope)
        else:
            acting_talent(request)
        return True


# --- throttling ---------------------------------------------------------------------------------
def _rate() -> tuple[int, int]:
    return settings.API_V1_RATE


class TokenRateThrottle(BaseThrottle):
    """A fixed window per token (per user for console sessions) in the default cache: Redis when
    REDIS_URL is set, so the limit holds across web processes; per process otherwise."""

    def allow_request(self, request, view) -> bool:
        limit, window = _rate()
        token = token_of(request)
        who = (
            f"token:{token.pk}"
            if token
            else f"user:{getattr(request.user, 'pk', '') or request.META.get('REMOTE_ADDR')}"
        )
        now = time.time()
        slot = int(now) // window
        key = f"api-v1-rl:{who}:{slot}"
        if cache.add(key, 1, timeout=window + 5):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:
                cache.add(key, 1, timeout=window + 5)
                count = 1
        reset = int((slot + 1) * window - now) or 1
        request._v1_ratelimit = (limit, max(0, limit - count), reset)
        self._wait = reset
        return count <= limit or not settings.RATELIMIT_ENABLED

    def wait(self):
        return self._wait


def ratelimit_headers(request, response) -> None:
    state = getattr(request, "_v1_ratelimit", None)
    if state:
        limit, remaining, reset = state
        response["RateLimit-Limit"] = str(limit)
        response["RateLimit-Remaining"] = str(remaining)
        response["RateLimit-Reset"] = str(reset)


# --- pagination ---------------------------------------------------------------------------------
class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


# --- idempotency --------------------------------------------------------------------------------
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string (a UUID): a retry with the same key and body within 24 hours "
    "(API_V1_IDEMPOTENCY_HOURS) gets the first answer; the same key with another body answers 422.",
)


def idempotent(request, run, *, describes_fan: bool = False) -> Response:
    """Run `run()` once per Idempotency-Key: the key, the request's hash and the response are stored
    in the transaction of the write, so a retry after a lost answer never writes (or sends) twice."""
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        return run()
    if len(key) > 255:
        raise ApiError(400, "invalid", "Idempotency-Key is at most 255 characters.")
    talent = acting_talent(request)
    token = token_of(request)
    principal = f"token:{token.pk}" if token else f"user:{request.user.pk}"
    body = json.dumps(request.data, sort_keys=True, default=str) if request.data else ""
    digest = hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()
    lookup = {"talent": talent, "principal": principal, "key": key}

    def replay(row: IdempotencyKey) -> Response:
        if row.request_hash != digest:
            raise ApiError(422, "idempotency_key_reused", "This Idempotency-Key was used with another request.")
        response = Response(row.response_body, status=row.status_code)
        response["Idempotent-Replayed"] = "true"
        return response

    existing = IdempotencyKey.objects.filter(**lookup).first()
    if existing is not None and existing.created_at < timezone.now() - idempotency_window():
        # Past its window (the hourly prune has not run yet): the key is free again, as documented.
        IdempotencyKey.objects.filter(pk=existing.pk).delete()
        existing = None
    if existing is not None:
        return replay(existing)
    try:
        with transaction.atomic():
            # The key is claimed BEFORE the work: a concurrent request with the same key waits on
            # this row (PostgreSQL's unique index) until we commit, then replays our answer; if we
            # roll back, it goes ahead. So the work itself never runs twice.
            try:
                with transaction.atomic():
                    row = IdempotencyKey.objects.create(**lookup, request_hash=digest, status_code=0)
            except IntegrityError:
                raise _Raced
            response = run()
            if response.status_code >= 400:
                # Nothing was written; a retry may succeed (a fixed body), so the key is not spent.
                transaction.set_rollback(True)
                return response
            row.status_code = response.status_code
            row.response_body = response.data
            row.fan_id = response.data.get("id") if describes_fan else None
            row.save(update_fields=["status_code", "response_body", "fan_id"])
    except _Raced:
        return replay(IdempotencyKey.objects.get(**lookup))
    return response


class _Raced(Exception):
    pass


__all__ = ["status"]
