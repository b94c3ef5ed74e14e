"""The console's sign-in with two-factor, the gate in front of console and API sessions (two-factor,
idle expiry), and the page to set two-factor up (issue 15; the rules: accounts/two_factor.py)."""

from __future__ import annotations

import base64
import time

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import logout
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticDevice

from accounts import two_factor
from accounts.forms import ConsoleLoginForm
from accounts.two_factor import enabled_for, required_for, totp_device

LAST_SEEN_KEY = "console_last_seen"
# Console pages a signed-in user may reach before two-factor is set up (or to set it up).
_OPEN_PATHS = ("/admin/login/", "/admin/logout/", "/admin/two-factor/", "/admin/jsi18n/")


# --- sign-in ----------------------------------------------------------------------------------
class TwoFactorLoginForm(ConsoleLoginForm):
    """Password, then (for users who set it up) a code from the authenticator or a recovery code."""

    otp_token = forms.CharField(
        label="Two-factor code",
        required=False,
        max_length=32,
        help_text="The 6 digits your authenticator app shows, or one of your recovery codes. "
        "Leave empty if you have not set up two-factor sign-in.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is None or not enabled_for(user):
            return cleaned
        token = (cleaned.get("otp_token") or "").strip().replace(" ", "")
        if not token:
            raise forms.ValidationError("Enter the code from your authenticator app (or a recovery code).", code="otp")
        if token.isdigit() and len(token) == 6:
            device = totp_device(user)
        else:
            device = StaticDevice.objects.filter(user=user, confirmed=True).first()
        allowed, _ = device.verify_is_allowed() if device else (False, None)
        if device is None or not allowed or not device.verify_token(token):
            raise forms.ValidationError(
                "That code is wrong or was already used. Codes change every 30 seconds; after several "
                "wrong ones, wait a little before the next try.",
                code="otp",
            )
        user.otp_device = device  # django-otp stores it in the session when the login completes
        return cleaned


# --- the gate ---------------------------------------------------------------------------------
class ConsoleSecurityMiddleware:
    """After django_otp's OTPMiddleware: idle expiry and the two-factor gate for console and API sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        console, api = path.startswith("/admin/"), path.startswith("/api/")
        user = getattr(request, "user", None)
        if (console or api) and user is not None and user.is_authenticated:
            refused = self._idle(request) or self._two_factor(request, api=api)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _idle(self, request):
        now = int(time.time())
        last = request.session.get(LAST_SEEN_KEY)
        if last is not None and now - int(last) > settings.CONSOLE_IDLE_TIMEOUT:
            logout(request)
            messages.info(request, "You were signed out after a while without activity. Sign in again.")
            return HttpResponseRedirect(reverse("admin:login") + "?next=" + request.path)
        if last is None or now - int(last) >= 60:
            request.session[LAST_SEEN_KEY] = now
        return None

    def _two_factor(self, request, *, api: bool):
        if request.path_info.startswith(_OPEN_PATHS):
            return None
        user = request.user
        if user.is_verified():
            return None
        if enabled_for(user):
            # Signed in before two-factor was turned on (or on another device): sign in again, with a code.
            logout(request)
            if api:
                return JsonResponse({"detail": "Sign in again with your two-factor code."}, status=401)
            return HttpResponseRedirect(reverse("admin:login"))
        if required_for(user):
            if api:
                return JsonResponse(
                    {"detail": "Your team requires two-factor sign-in: set it up in the console."}, status=403
                )
            messages.warning(request, "Your team requires two-factor sign-in. Set it up to continue.")
            return HttpResponseRedirect(reverse("two-factor"))
        return None


# --- the setup page ---------------------------------------------------------------------------
@staff_member_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Turn two-factor on (scan or type the key, confirm with a code), renew recovery codes, turn it off."""
    user = request.user
    action = request.POST.get("action", "")
    codes: list[str] = []
    error = ""
    if request.method == "POST" and action == "confirm":
        codes = two_factor.two_factor_confirm(user=user, code=request.POST.get("code", ""), request=request) or []
        if not codes:
            error = "That code did not match. Check the time on your phone and type the 6 digits shown now."
    elif request.method == "POST" and action == "recovery" and enabled_for(user) and user.is_verified():
        codes = two_factor.recovery_codes_new(user=user)
    elif request.method == "POST" and action == "disable" and user.is_verified():
        if two_factor.two_factor_disable(user=user):
            messages.success(request, "Two-factor sign-in is off.")
            return HttpResponseRedirect(reverse("two-factor"))
        error = "Your team requires two-factor sign-in: it cannot be turned off."
    pending = None
    if not enabled_for(user):
        pending = totp_device(user, confirmed=False)
        if pending is None or action == "restart":
            pending = two_factor.two_factor_start(user=user)
    context = {
        **admin.site.each_context(request),
        "title": "Two-factor sign-in",
        "enabled": enabled_for(user),
        "required": required_for(user),
        "codes": codes,
        "error": error,
        "recovery_left": StaticDevice.objects.filter(user=user)
        .values_list("token_set__token", flat=True)
        .exclude(token_set__token=None)
        .count(),
    }
    if pending is not None:
        key = base64.b32encode(pending.bin_key).decode().rstrip("=")
        context.update(key=" ".join(key[i : i + 4] for i in range(0, len(key), 4)), otpauth=pending.config_url)
    return TemplateResponse(request, "admin/two_factor.html", context)
