"""The Twilio webhooks served at the WSGI level (issue 10, sixth session).

`fancommunity.wsgi.application` is this dispatcher around Django's WSGIHandler. A request to one
of the two webhook paths (inbound, status; whatever its method) goes straight to the operations
middleware's short way (`OpsEndpointsMiddleware.webhook`: HTTPS redirect, Host check, the form
parse, the view, the security headers, the latency histogram), without Django's handler around
it: the request_started / request_finished signal dispatch, the URLconf set and reset, the
exception wrapper of each middleware layer. Measured with bench/webhook_cpu.py; see
docs/ARCHITECTURE.md, "The web's cost per text, sixth session".

What the handler did that still matters is done here, in the same order:
- the script prefix, as the handler sets it (reverse() in a view builds URLs with it);
- the database connections at the start and at the end of the request, as close_old_connections
  does from both signals (CONN_MAX_AGE expiry, a connection left in error or outside autocommit is
  closed, the health check re-armed for the next request); the caches' close and the URLconf
  reset at the end; the query log emptied at the start when DEBUG keeps one;
- an exception answered as Django answers it (`response_for_exception`: 400 for a bad request or
  a suspicious one, 404, 403, else a logged 500 through got_request_exception), and every answer
  of 400 or more logged on django.request as get_response logs it;
- the status line and headers (cookies too) as WSGIHandler builds them; the request's files
  closed when the answer is.
If anything else listens to request_started or request_finished (a library connected a
receiver), the signals are sent as Django sends them, so nothing connected later is skipped.
tests/ops/test_webhook_wsgi.py compares answers with Django's handler and checks each point.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.handlers.base import reset_urlconf
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.db import close_old_connections, reset_queries
from django.http import HttpResponseBase
from django.urls import set_script_prefix, set_urlconf
from django.utils.log import log_response

from fancommunity.middleware import WEBHOOK_PREFIX, OpsEndpointsMiddleware

# The receivers Django itself connects; with only these, calling them directly is the same.
_STARTED = {reset_queries, close_old_connections}
_FINISHED = {close_old_connections, close_caches, reset_urlconf}


def _only(signal: signals.Signal, known: set) -> bool:
    for _key, receiver, _is_async in signal.receivers:
        target = receiver() if isinstance(receiver, weakref.ReferenceType) else receiver
        if target not in known:
            return False
    return True


class WebhookApplication:
    """WSGI application: the webhook paths by the short way, everything else by Django's handler."""

    def __init__(self, handler: WSGIHandler) -> None:
        self.handler = handler
        # A second instance of the first middleware, for its webhook path only: what it does not
        # serve itself goes to the full stack through this handler.
        self.ops = OpsEndpointsMiddleware(handler.get_response)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        # ASCII only: any other path is decoded by Django's own rules (get_path_info), on its way.
        if not path.startswith(WEBHOOK_PREFIX) or not path.isascii() or self.ops.webhook_view(path) is None:
            return self.handler(environ, start_response)
        set_script_prefix(get_script_name(environ))
        plain = _only(signals.request_started, _STARTED) and _only(signals.request_finished, _FINISHED)
        if plain:
            if settings.DEBUG:
                reset_queries()
            close_old_connections()
        else:
            signals.request_started.send(sender=WSGIHandler, environ=environ)
        request = WSGIRequest(environ)
        try:
            response = self.ops.webhook(request)
        except Exception as exc:  # answered and logged as Django's exception wrapper answers it
            response = response_for_exception(request, exc)
        response._resource_closers.append(request.close)  # type: ignore[attr-defined]
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        status = f"{response.status_code} {response.reason_phrase}"
        headers = [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        start_response(status, headers)
        if not plain:
            response._handler_class = WSGIHandler  # type: ignore[attr-defined]
            return response  # its close() sends request_finished
        return _Answer(response)


class _Answer:
    """The response's body for the server; close() does what HttpResponse.close() and its
    request_finished receivers do (the request's files, the connections, the caches)."""

    __slots__ = ("response",)

    def __init__(self, response: HttpResponseBase) -> None:
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def close(self) -> None:
        response = self.response
        for closer in response._resource_closers:  # type: ignore[attr-defined]
            try:
                closer()
            except Exception:  # noqa: S110 - as HttpResponse.close: a closer's failure must not stop the rest
                pass
        response._resource_closers.clear()  # type: ignore[attr-defined]
        response.closed = True
        close_old_connections()
        caches.close_all()
        set_urlconf(None)  # reset_urlconf: a view that set request.urlconf leaves it for this thread
