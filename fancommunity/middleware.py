"""Operations middleware (issue 17): the probe endpoints, the webhook latency histogram, and the
Twilio webhooks' short way through the stack (issue 10)."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from django.utils.datastructures import MultiValueDict

from fancommunity import health, metrics

# The Twilio webhooks (URL names) that skip the session, auth, two-factor, CSRF, static-file and API
# middleware: Twilio sends no cookie and no session, the views are csrf_exempt and read nothing
# those layers set. See _webhook() for what they still get.
WEBHOOK_URL_NAMES = ("messaging:twilio-inbound", "messaging:twilio_status")
_UNSEEN = object()


class OpsEndpointsMiddleware:
    """First in MIDDLEWARE: serves /healthz, /healthz/strict and /metrics before the HTTPS redirect,
    the Host check and sessions (probes come over plain HTTP to an internal address and carry no
    cookie), times the Twilio webhooks for the latency histogram, and runs those webhooks' views
    directly (a celebrity burst is thousands of them a second; the whole stack cost more than the
    view's own work)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # path -> the webhook's view, or None (any other path under /webhooks/twilio/: the full stack).
        self._views: dict[str, Callable[[HttpRequest], HttpResponse] | None] = {}
        # Their process_request/process_response only, never their get_response.
        self._security = SecurityMiddleware(get_response)
        self._frame = XFrameOptionsMiddleware(get_response)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path in ("/healthz", "/healthz/"):
            return _probe(health.healthz(request))
        if path in ("/healthz/strict", "/healthz/strict/"):
            return _probe(health.healthz_strict(request))
        if path in ("/metrics", "/metrics/"):
            return _probe(metrics.metrics_view(request))
        if path.startswith("/webhooks/twilio/"):
            started = time.perf_counter()
            view = self._webhook_view(path)
            response = self._webhook(request, view) if view is not None else self.get_response(request)
            metrics.observe_webhook(path, response.status_code, time.perf_counter() - started)
            return response
        return self.get_response(request)

    def _webhook_view(self, path: str) -> Callable[[HttpRequest], HttpResponse] | None:
        """The view of a webhook path, from the URLconf itself (the paths stay wherever urls.py puts
        them), resolved once per path. resolve(), not reverse(): building the reverse index of the
        whole URLconf (the admin's) would cost the first text of every worker a second."""
        view = self._views.get(path, _UNSEEN)
        if view is _UNSEEN:
            try:
                match = resolve(path)
            except Resolver404:
                view = None
            else:
                view = match.func if match.view_name in WEBHOOK_URL_NAMES else None
            if len(self._views) >= 100:  # probes of made-up paths: bounded
                self._views.clear()
            self._views[path] = view
        return view  # type: ignore[return-value]

    def _webhook(self, request: HttpRequest, view: Callable[[HttpRequest], HttpResponse]) -> HttpResponse:
        """What the full stack would do for a webhook, without the layers it does not need: the
        HTTPS redirect and the Host check (Django's SecurityMiddleware and CommonMiddleware), and the
        same response headers (security, X-Frame-Options, the strict CSP, Permissions-Policy).
        tests/ops/test_webhook_fast_path.py compares the headers with the full stack's."""
        redirect = self._security.process_request(request)
        if redirect is not None:
            return self._headers(request, redirect)
        request.get_host()  # DisallowedHost -> 400, as CommonMiddleware does for every request
        _parse_form(request)
        return self._headers(request, view(request))

    def _headers(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response = self._security.process_response(request, response)
        response = self._frame.process_response(request, response)
        for header, value in _csp_headers():
            response.setdefault(header, value)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _parse_form(request: HttpRequest) -> None:
    """request.POST of a form-encoded webhook, exactly as Django's QueryDict reads it (the same body
    size limit, decoding, invalid-UTF-8 replacement and field limit), without its per-field cost:
    QueryDict adds each of Twilio's ~13 fields through appendlist/setlistdefault/bytes_to_text,
    which was a fifth of a text's CPU. Anything that is not a plain UTF-8 form POST (multipart, a
    charset other than UTF-8, a GET) is left to Django, which parses or refuses it as before."""
    if request.method != "POST" or request.content_type != "application/x-www-form-urlencoded":
        return
    if request.encoding is not None and request.encoding.lower() != "utf-8":
        return  # Django answers 400 for these (RFC 1866: form data is UTF-8)
    raw = request.body  # RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE -> 400, as before
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")  # QueryDict's own fallback for raw non-UTF-8 bytes
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    if limit is not None and text and text.count("&") + 1 > limit:  # parse_qsl's own count
        raise TooManyFieldsSent("The number of GET/POST parameters exceeded settings.DATA_UPLOAD_MAX_NUMBER_FIELDS.")
    lists: dict[str, list[str]] = {}
    for key, value in _form_pairs(text):
        if key in lists:
            lists[key].append(value)
        else:
            lists[key] = [value]
    post = QueryDict(encoding="utf-8")  # empty, immutable: what request.POST always is
    dict.update(post, lists)  # MultiValueDict keeps each key's values as a list: set them at once
    request._post, request._files = post, MultiValueDict()  # type: ignore[attr-defined]  # Django's own slots


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """parse_qsl(text, keep_blank_values=True) (`&` only, a pair without "=" has a blank value,
    U+FFFD for a bad escape), without its per-field calls: `+` and `%` are only looked at in the
    fields that hold them (most of Twilio's hold neither). tests/ops/test_webhook_form_parse.py
    compares the two on hostile bodies."""
    pairs = []
    for pair in text.split("&") if text else ():
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, encoding="utf-8", errors="replace")
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value, encoding="utf-8", errors="replace")
        pairs.append((name, value))
    return pairs


_CSP_CACHE: list = [None, None, ()]  # the two settings objects it was built from, and the headers


def _csp_headers() -> tuple[tuple[str, str], ...]:
    """The strict policy (and a report-only one, if configured), as django-csp builds them for an
    answer without a nonce; built once per settings object (a test's override builds it again)."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
    report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
    if _CSP_CACHE[0] is not policy or _CSP_CACHE[1] is not report_only:
        from csp.constants import HEADER, HEADER_REPORT_ONLY
        from csp.utils import build_policy

        headers = [(HEADER, build_policy()), (HEADER_REPORT_ONLY, build_policy(report_only=True))]
        _CSP_CACHE[:] = [policy, report_only, tuple((h, v) for h, v in headers if v)]
    return _CSP_CACHE[2]


def _probe(response: HttpResponse) -> HttpResponse:
    # Answered before fancommunity.security's middleware runs: the header every answer carries.
    response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
    return response
