"""Console accounts (issue 15): two-factor sign-in (TOTP + recovery codes, django-otp): the rules
and services. The sign-in form, the gate and the setup page: fancommunity/console_auth.py.

- Two-factor is optional for a user, and required when any talent they are on the team of has
  `requires_two_factor`. A user with a confirmed authenticator signs in with password + code (or a
  recovery code); a user who must have one and has none is sent to /admin/two-factor/ before any
  other console page. A session that signed in before the user turned two-factor on is signed out.
- The API's password-based Basic auth is refused for such users (accounts/api_auth.py): a password
  alone is what two-factor exists to distrust. They use the API through their (verified) session.
- Idle console sessions end after CONSOLE_IDLE_TIMEOUT seconds without a request; the last-seen
  time is written at most once a minute, so browsing costs no session write per page.
"""

from __future__ import annotations

from django.db import transaction
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.audit import audit
from accounts.models import TeamMember

RECOVERY_CODES = 10


# --- who needs what ---------------------------------------------------------------------------
def required_for(user) -> bool:
    """Two-factor is required when any talent the user works for requires it."""
    if not getattr(user, "is_authenticated", False):
        return False
    return TeamMember.objects.filter(user=user, talent__requires_two_factor=True).exists()


def totp_device(user, *, confirmed: bool = True) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).first()


def enabled_for(user) -> bool:
    return getattr(user, "is_authenticated", False) and TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def password_alone_refused(user) -> bool:
    """Basic auth (a password and nothing else) is refused for these users."""
    return enabled_for(user) or required_for(user)


# --- services ---------------------------------------------------------------------------------
def two_factor_start(*, user) -> TOTPDevice:
    """A fresh, unconfirmed authenticator secret (any earlier unconfirmed one is replaced)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def two_factor_confirm(*, user, code: str, request=None) -> list[str] | None:
    """Confirm the pending secret with a code from the app; returns new recovery codes (shown once)."""
    device = totp_device(user, confirmed=False)
    if device is None or not device.verify_token(code.strip().replace(" ", "")):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes_new(user=user)
        audit("account.two_factor_enabled", actor=user, obj=user)
    if request is not None:
        otp_login(request, device)  # this session is verified; others are signed out by the middleware
    return codes


def recovery_codes_new(*, user) -> list[str]:
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
    return codes


def two_factor_disable(*, user) -> bool:
    if required_for(user):
        return False
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit("account.two_factor_disabled", actor=user, obj=user)
    return True
