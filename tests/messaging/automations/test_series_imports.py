"""Fans added by a CSV import: the fan.joined webhook for each fan the import made active, and the
welcome series only where it says "also for fans added by import" (off by default)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase

from accounts.models import Fan, WebhookEvent
from messaging.audience.imports import import_batch_create, import_batch_run
from messaging.models import WelcomeEnrolment
from tests.factories import create_fan
from tests.messaging.automations.support import live_series
from tests.webhooks_out.test_webhooks import make_endpoint

pytestmark = pytest.mark.django_db

FILE = "phone,first_name\n+14155550401,Ann\n+14155550402,Ben\n+14155550403,Cy\n+14155550404,Di\n"


@pytest.fixture(autouse=True)
def media(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path


def _import(personas):
    batch = import_batch_create(
        talent=personas.talent,
        file=ContentFile(FILE.encode()),
        original_name="fans.csv",
        actor=personas.manager,
        consent_source="Tour sheet",
        consent_date=dt.date(2026, 3, 1),
        default_region="US",
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        return import_batch_run(batch=batch)


def _fans(personas):
    """Before the import: one pending number (texted in, never joined), one active fan, one opted out."""
    pending = create_fan(personas.talent, "+14155550402", status=Fan.Status.PENDING)
    active = create_fan(personas.talent, "+14155550403")
    gone = create_fan(personas.talent, "+14155550404", status=Fan.Status.OPTED_OUT)
    return pending, active, gone


def test_imported_fans_who_joined_get_the_series_when_it_says_so_and_the_webhook(personas):
    series = live_series(personas, (10, "Welcome {first_name}!"))
    series.include_imported = True
    series.save(update_fields=["include_imported"])
    make_endpoint(personas.talent, events=["fan.joined"])
    pending, active, gone = _fans(personas)
    batch = _import(personas)
    assert (batch.status, batch.created_count, batch.updated_count) == ("completed", 1, 3)
    new = Fan.objects.get(talent=personas.talent, phone="+14155550401")
    joined = {new.pk, pending.pk}  # created, or pending -> active; not the fan already in, not the opted out
    assert set(WelcomeEnrolment.objects.values_list("fan_id", flat=True)) == joined
    assert set(WebhookEvent.objects.filter(type="fan.joined").values_list("fan_id", flat=True)) == joined
    assert WelcomeEnrolment.objects.get(fan=new).source == Fan.Source.IMPORT
    _import(personas)  # the same file again: nobody joins twice
    assert WelcomeEnrolment.objects.count() == 2 and WebhookEvent.objects.filter(type="fan.joined").count() == 2


def test_by_default_a_series_is_not_for_imported_fans(personas):
    live_series(personas, (10, "Welcome!"))
    _fans(personas)
    _import(personas)
    assert not WelcomeEnrolment.objects.exists()
