"""Failed sign-ins are limited per username and per address, in the console and the API."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.RATELIMIT_LOGIN_FAILURES_PER_USER = (3, 900)
    settings.RATELIMIT_LOGIN_FAILURES_PER_IP = (5, 900)


def _console_login(client, username, password, ip="203.0.113.5"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_console_locks_a_username_after_repeated_failures(client, personas, limits):
    for _ in range(3):
        response = _console_login(client, "max_manager", "wrong")
        assert response.status_code == 200 and b"correct username and password" in response.content
    locked = _console_login(client, "max_manager", "pw")  # the right password, too late
    assert locked.status_code == 200 and b"Too many failed sign-ins" in locked.content
    assert "_auth_user_id" not in client.session
    # Another account from another address is not affected; success resets nothing and counts nothing.
    ok = _console_login(client, "otto_other", "pw", ip="198.51.100.7")
    assert ok.status_code == 302


def test_console_locks_an_address_that_tries_many_usernames(client, personas, limits):
    for name in ["a1", "a2", "a3", "a4", "a5"]:
        _console_login(client, name, "wrong")
    assert b"Too many failed sign-ins" in _console_login(client, "otto_other", "pw").content
    assert _console_login(client, "otto_other", "pw", ip="198.51.100.7").status_code == 302


def _basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_api_basic_auth_answers_429_while_locked(client, personas, limits):
    url = "/api/segments/"
    assert client.get(url, HTTP_AUTHORIZATION=_basic("max_manager", "pw")).status_code == 200
    for _ in range(3):
        assert client.get(url, HTTP_AUTHORIZATION=_basic("max_manager", "nope")).status_code in (401, 403)
    locked = client.get(url, HTTP_AUTHORIZATION=_basic("max_manager", "pw"))
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.json()["detail"]
    assert client.get(url, HTTP_AUTHORIZATION=_basic("otto_other", "pw"), REMOTE_ADDR="198.51.100.7").status_code == 200


def test_successful_sign_ins_are_never_counted(client, personas, limits):
    for _ in range(10):
        assert _console_login(client, "max_manager", "pw").status_code == 302
        client.logout()
