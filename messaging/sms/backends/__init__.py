"""SMS backends behind the SMS_BACKEND setting, on the model of Django's EMAIL_BACKEND.

from messaging.sms.backends import get_backend
result = get_backend().send(SmsMessage(to="+15005550006", from_="+15005550001", body="Hi"))
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from messaging.sms.backends.base import BaseSmsBackend, SendResult, SmsError, SmsMessage

__all__ = ["BaseSmsBackend", "SendResult", "SmsError", "SmsMessage", "get_backend", "load_backend_class"]


def load_backend_class(path: str | None = None) -> type[BaseSmsBackend]:
    path = path or settings.SMS_BACKEND
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"SMS_BACKEND: cannot import {path!r} ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseSmsBackend)):
        raise ImproperlyConfigured(f"SMS_BACKEND: {path!r} is not an SMS backend class")
    return cls


@lru_cache(maxsize=4)
def _backend_for(path: str) -> BaseSmsBackend:
    return load_backend_class(path)()


def get_backend() -> BaseSmsBackend:
    """The configured backend; one instance per process (the twilio one keeps its HTTP client)."""
    return _backend_for(settings.SMS_BACKEND)
