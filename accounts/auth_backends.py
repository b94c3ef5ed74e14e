"""Password sign-in with a failed-attempt limit, for the console (admin login) and the API
(HTTP Basic): both end in django.contrib.auth.authenticate(), so the limit lives here once."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from accounts.ratelimit import client_ip, login_failed, login_locked


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that stops checking passwords for a username, or from an address, after too
    many failures in a window (RATELIMIT_LOGIN_FAILURES_PER_USER / _PER_IP).

    While locked even the right password is refused, so guessing gains nothing; only failures
    count, so a team member who signs in fine is never slowed down.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        ip = client_ip(request) if request is not None else ""
        if login_locked(ip=ip, username=username):
            raise PermissionDenied  # authenticate() stops here and reports a failed sign-in
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None:
            login_failed(ip=ip, username=username)
        return user
