"""500s found by probing answer 4xx (API) or a form error (console) with the reason (issue 15 §4)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from messaging.audience.services import contact_list_add_fans
from messaging.models import ContactList, ContactListMember

pytestmark = pytest.mark.django_db


@pytest.fixture
def vip(personas):
    return ContactList.objects.create(talent=personas.talent, name="VIP")


def test_api_add_fans_with_no_readable_phone_is_a_400_with_the_reason(personas, vip):
    client = APIClient()
    client.force_authenticate(personas.manager)
    response = client.post(f"/api/contact-lists/{vip.pk}/add-fans/", {"phones": ["nope", "12"]}, format="json")
    assert response.status_code == 400
    assert "could be read as a phone number" in response.data["phones"][0]
    assert not ContactListMember.objects.exists()


def test_adding_nothing_adds_nothing(personas, vip):
    assert contact_list_add_fans(contact_list=vip, fans=personas.fan.__class__.objects.filter(id__in=[])) == 0


@pytest.mark.parametrize("body", [b"phone\n+19995550000\n", b"phone\nnot-a-number\n"])
def test_console_upload_in_add_mode_with_no_matching_fan_is_a_form_error(client, personas, vip, body):
    client.force_login(personas.manager)
    upload = SimpleUploadedFile("list.csv", body, content_type="text/csv")
    response = client.post(
        f"/admin/messaging/contactlist/{vip.pk}/upload/", {"file": upload, "mode": "add", "default_region": "US"}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors and "no number in it belongs to a fan of Nova Ray" in errors[0]
    assert not ContactListMember.objects.exists()


def test_rate_limit_keys_from_requests_are_safe_for_any_cache():
    """Found by tests/security/test_fuzz.py: a webhook's From with control characters made a cache
    key memcached refuses."""
    from django.core.cache.backends.base import memcache_key_warnings

    from accounts.ratelimit import _cache_key

    for raw in ["+14155550101", "\x08¦i\x97", "a b", "x" * 300, "\U000c7538"]:
        key = _cache_key("webhook-phone", raw, 60)
        assert list(memcache_key_warnings(":1:" + key)) == [], raw
    assert _cache_key("webhook-phone", "+14155550101", 60).startswith("rl:webhook-phone:+14155550101:")
