"""HTTP Basic for the API, answering 429 (not a bare 401) while sign-ins are locked, and refused
for accounts with two-factor sign-in (issue 15)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from accounts.ratelimit import LOGIN_LOCKED_MESSAGE, client_ip, login_locked
from accounts.two_factor import password_alone_refused


class ThrottledBasicAuthentication(BasicAuthentication):
    def authenticate_credentials(self, userid, password, request=None):
        if request is not None and login_locked(ip=client_ip(request), username=userid):
            wait = min(settings.RATELIMIT_LOGIN_FAILURES_PER_USER[1], settings.RATELIMIT_LOGIN_FAILURES_PER_IP[1])
            raise exceptions.Throttled(wait=wait, detail=LOGIN_LOCKED_MESSAGE)
        user, auth = super().authenticate_credentials(userid, password, request)
        if password_alone_refused(user):
            # Issue 15: two-factor exists because a password alone is not trusted; Basic auth is one.
            raise exceptions.AuthenticationFailed(
                "Password sign-in to the API is off for accounts with two-factor sign-in: "
                "sign in to the console (with your code) and use that session."
            )
        return user, auth
