"""Terms versions: publishing keeps old versions; a material change asks sharing fans again."""

from __future__ import annotations

import pytest
from django.test import TestCase
from django.urls import reverse

from accounts.models import AuditEvent, Fan
from accounts.tokens import self_service_tokens
from consent.models import ConsentRecord, TermsDocument
from consent.services import Evidence, fan_sharing_set, terms_current, terms_publish
from messaging.conversations.reconsent import reconsent_send_batch
from messaging.models import OutboundMessage
from tests.accounts.join_support import link_in, open_data_link
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def _publish(talent, kind="terms", material=False, **kw):
    return terms_publish(talent=talent, kind=kind, title="T", summary="S", body="B", is_material=material, **kw)


def test_publishing_adds_a_version_and_keeps_the_old_ones(personas):
    v1, _ = _publish(personas.talent)
    v2, _ = _publish(personas.talent)
    assert (v1.version, v2.version) == (1, 2)
    assert TermsDocument.objects.filter(talent=personas.talent, kind="terms").count() == 2
    assert terms_current(talent=personas.talent, kind="terms") == v2
    other, _ = _publish(personas.other_talent)
    assert other.version == 1
    assert AuditEvent.objects.filter(action="terms.published").count() == 3


def test_a_material_change_pauses_sharing_until_the_fan_agrees_again(client, personas, sms_outbox):
    _publish(personas.talent, "privacy")
    sharer = create_fan(personas.talent, "+14155552671", shares_with_partners=True)
    keeper = create_fan(personas.talent, "+14155552672", shares_with_partners=False)
    elsewhere = create_fan(personas.other_talent, "+14155552673", shares_with_partners=True)

    document, fan_ids = _publish(personas.talent, "privacy", material=True)
    assert fan_ids == [sharer.pk]
    sharer.refresh_from_db()
    assert not sharer.shares_with_partners and sharer.sharing_reconsent_requested_at is not None
    keeper.refresh_from_db()
    elsewhere.refresh_from_db()
    assert keeper.sharing_reconsent_requested_at is None and elsewhere.shares_with_partners

    # Each paused fan gets one text with a link to their data page (twice-run task: still one).
    assert reconsent_send_batch(fan_ids) == 1
    assert reconsent_send_batch(fan_ids) == 0
    assert len(sms_outbox) == 1 and "agree again" in sms_outbox[0].body
    page = open_data_link(client, link_in(sms_outbox[0].body))
    assert b"Nothing is shared until you agree again" in page.content
    client.post("/me/consent/", {"purpose": "partner_sharing", "action": "grant"})
    sharer.refresh_from_db()
    assert sharer.shares_with_partners and sharer.sharing_reconsent_requested_at is None
    latest = ConsentRecord.objects.filter(fan=sharer, purpose="partner_sharing").order_by("-created_at", "-pk").first()
    assert latest.action == "granted" and latest.privacy == document


def test_sharing_cannot_be_granted_for_an_erased_fan(personas):
    fan = create_fan(personas.talent, status=Fan.Status.ERASED)
    assert not fan_sharing_set(fan=fan, share=True, evidence=Evidence(method="self_service"))


def test_publishing_through_the_console_is_versioned_and_asks_again(client, personas, sms_outbox):
    create_fan(personas.talent, "+14155552671", shares_with_partners=True)
    client.force_login(personas.owner)
    url = reverse("admin:consent_termsdocument_add")
    form = {"talent": personas.talent.pk, "kind": "terms", "title": "Terms", "summary": "S", "body": "B"}
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(url, form).status_code == 302
        assert client.post(url, {**form, "is_material": "on"}).status_code == 302
    versions = list(
        TermsDocument.objects.filter(talent=personas.talent).order_by("version").values_list("version", "is_material")
    )
    assert versions == [(1, False), (2, True)]
    assert len(sms_outbox) == 1 and "/me/?t=" in sms_outbox[0].body
    assert OutboundMessage.objects.filter(kind="system").count() == 1
    # A published version cannot be edited.
    doc = TermsDocument.objects.get(version=1, talent=personas.talent)
    client.post(reverse("admin:consent_termsdocument_change", args=[doc.pk]), {**form, "title": "Changed"})
    doc.refresh_from_db()
    assert doc.title == "Terms"


def test_self_service_link_in_reconsent_text_is_a_valid_token(personas):
    fan = create_fan(personas.talent)
    token = self_service_tokens.make_token(fan=fan)
    assert self_service_tokens.check_token(token) == fan


def test_a_consent_record_points_at_the_versions_the_signup_page_shows(personas):
    """terms_ids_current (the STOP's one query) names what terms_for_signup gives, in every case:
    platform versions only, the talent's own over a newer platform one, a draft or a version
    published for later never counted, another talent's never seen."""
    from django.utils import timezone

    from consent.services import fan_opt_out, terms_for_signup, terms_ids_current

    def ids(talent):
        return tuple(d.pk if d else None for d in terms_for_signup(talent=talent))

    talent = personas.talent
    TermsDocument.objects.all().delete()
    assert terms_ids_current(talent_id=talent.pk) == ids(talent) == (None, None)
    _publish(None)
    _publish(None, kind="privacy")
    assert terms_ids_current(talent_id=talent.pk) == ids(talent)
    own, _ = _publish(talent)
    _publish(None)  # a newer platform version: the talent's own still wins
    _publish(personas.other_talent, kind="privacy")
    TermsDocument.objects.create(talent=talent, kind="terms", version=9, title="Draft", summary="S", body="B")
    TermsDocument.objects.create(
        talent=talent, kind="privacy", version=9, title="Later", summary="S", body="B",
        published_at=timezone.now() + timezone.timedelta(days=1),
    )  # fmt: skip
    assert terms_ids_current(talent_id=talent.pk) == ids(talent)
    assert terms_ids_current(talent_id=talent.pk)[0] == own.pk
    fan = create_fan(talent)
    assert fan_opt_out(fan=fan, evidence=Evidence(method="sms_keyword", evidence="SMtest"))
    record = ConsentRecord.objects.filter(fan=fan).latest("created_at")
    assert (record.terms_id, record.privacy_id) == ids(talent)
