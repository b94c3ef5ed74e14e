"""Platform-wide terms (no talent) change every talent's signup page: superusers only (issue 15 §4)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from consent.models import TermsDocument
from consent.services import terms_publish
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _publish(actor, talent=None, material=True):
    return terms_publish(
        talent=talent, kind="terms", title="T", summary="S", body="B", is_material=material, actor=actor
    )


def test_an_owner_cannot_publish_a_platform_wide_version(personas):
    create_fan(personas.other_talent, "+14155553001", shares_with_partners=True)
    with pytest.raises(PermissionDenied):
        _publish(personas.owner)
    assert not TermsDocument.objects.filter(talent__isnull=True).exists()
    # Their own talent's version is theirs to publish.
    document, _ = _publish(personas.owner, talent=personas.talent)
    assert document.talent == personas.talent


def test_a_superuser_publishes_the_platform_version(personas):
    document, _ = _publish(personas.superuser)
    assert document.talent is None


def test_the_console_never_turns_an_owners_empty_talent_into_a_platform_version(client, personas):
    client.force_login(personas.owner)
    post = {"talent": "", "kind": "terms", "title": "X", "summary": "S", "body": "B", "is_material": "on"}
    client.post("/admin/consent/termsdocument/add/", post)
    assert not TermsDocument.objects.filter(talent__isnull=True).exists()
    # The form behind the page requires a talent for anyone but a superuser.
    from django.contrib import admin
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/consent/termsdocument/add/")
    request.user, request.session = personas.owner, client.session
    form_class = admin.site._registry[TermsDocument].get_form(request)
    assert form_class.base_fields["talent"].required


def test_a_superuser_on_all_talents_may_leave_the_talent_empty(client, personas):
    client.force_login(personas.superuser)
    post = {"talent": "", "kind": "privacy", "title": "X", "summary": "S", "body": "B"}
    response = client.post("/admin/consent/termsdocument/add/", post)
    assert response.status_code == 302
    assert TermsDocument.objects.filter(talent__isnull=True, kind="privacy").count() == 1
