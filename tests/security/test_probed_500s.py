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
