"""Console accounts (issue 15 §4): Argon2, optional TOTP two-factor with recovery codes, required
by a talent, idle sessions that end, and no password-only API access once two-factor is on."""

from __future__ import annotations

import base64
import time

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts import two_factor
from fancommunity.console_auth import LAST_SEEN_KEY

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


def _with_two_factor(user) -> tuple[TOTPDevice, list[str]]:
    device = two_factor.two_factor_start(user=user)
    codes = two_factor.two_factor_confirm(user=user, code=_code(device))
    device.refresh_from_db()
    return device, codes


def _next_window(device: TOTPDevice) -> None:
    """As if 30 s passed: the code used to confirm (each code works once) and the back-off after
    a wrong one are behind us."""
    TOTPDevice.objects.filter(pk=device.pk).update(
        last_t=-1, throttling_failure_count=0, throttling_failure_timestamp=None
    )


def _login(client, user, code: str = ""):
    return client.post(
        "/admin/login/?next=/admin/", {"username": user.username, "password": user.raw_password, "otp_token": code}
    )


def test_passwords_are_hashed_with_argon2_outside_the_tests(settings):
    import fancommunity.settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS  # argon2-cffi installed and working
    encoded = make_password("correct horse")
    assert encoded.startswith("argon2$") and check_password("correct horse", encoded)


def test_two_factor_is_optional_and_a_password_alone_then_no_longer_signs_in(client, personas):
    assert _login(client, personas.manager).status_code == 302  # no two-factor yet: a password signs in
    client.logout()
    device, codes = _with_two_factor(personas.manager)
    refused = _login(client, personas.manager)
    assert refused.status_code == 200 and b"Enter the code from your authenticator app" in refused.content
    assert _login(client, personas.manager, "000000").status_code == 200
    assert _login(client, personas.manager, _code(device)).status_code == 200  # used to confirm, and backing off
    _next_window(device)
    assert _login(client, personas.manager, _code(device)).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_recovery_code_signs_in_once(client, personas):
    _, codes = _with_two_factor(personas.manager)
    assert len(codes) == 10
    assert _login(client, personas.manager, codes[0]).status_code == 302
    client.logout()
    assert _login(client, personas.manager, codes[0]).status_code == 200  # used up


def test_a_talent_can_require_it_for_its_whole_team(client, personas):
    personas.talent.requires_two_factor = True
    personas.talent.save()
    assert two_factor.required_for(personas.agent) and not two_factor.required_for(personas.other_manager)
    client.force_login(personas.agent)
    page = client.get("/admin/")
    assert page.status_code == 302 and page["Location"] == "/admin/two-factor/"
    setup = client.get("/admin/two-factor/")
    assert setup.status_code == 200 and b"requires two-factor" in setup.content
    device = TOTPDevice.objects.get(user=personas.agent, confirmed=False)
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    assert key[:4].encode() in setup.content
    done = client.post("/admin/two-factor/", {"action": "confirm", "code": _code(device)})
    assert done.status_code == 200 and b"recovery codes" in done.content
    assert client.get("/admin/").status_code == 200  # this session is verified now
    # Required: it cannot be turned off.
    client.post("/admin/two-factor/", {"action": "disable"})
    assert two_factor.enabled_for(personas.agent)
    # The API refuses the unverified sessions of a team that requires it.
    other = APIClient()
    other.force_login(personas.manager)
    assert other.get("/api/contact-lists/").status_code == 403


def test_a_session_from_before_two_factor_is_signed_out(client, personas):
    client.force_login(personas.manager)  # a session without a verified device
    _with_two_factor(personas.manager)
    page = client.get("/admin/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_api_basic_auth_is_refused_once_two_factor_is_on(personas):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"max_manager:pw").decode())
    assert api.get("/api/contact-lists/").status_code == 200
    _with_two_factor(personas.manager)
    refused = api.get("/api/contact-lists/")
    assert refused.status_code in (401, 403) and "two-factor" in refused.json()["detail"]


def test_idle_console_sessions_expire(client, personas, settings):
    client.force_login(personas.manager)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - settings.CONSOLE_IDLE_TIMEOUT - 5
    session.save()
    page = client.get("/admin/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")
    assert "_auth_user_id" not in client.session


def test_device_secrets_are_not_console_pages_and_an_operator_can_reset_them(personas):
    from django.contrib import admin
    from django.core.management import call_command
    from django_otp.plugins.otp_static.models import StaticDevice

    assert not admin.site.is_registered(TOTPDevice) and not admin.site.is_registered(StaticDevice)
    _with_two_factor(personas.manager)
    call_command("two_factor_reset", "max_manager")
    assert not two_factor.enabled_for(personas.manager)
