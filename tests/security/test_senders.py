"""A sender (number or Messaging Service SID) belongs to one talent (issue 15 §4)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts import profile
from accounts.models import SERVICE_TAKEN, Talent
from tests.factories import create_talent

pytestmark = pytest.mark.django_db

SID = "MG" + "b" * 32


def _talent_form(client, talent, **changes):
    data = {
        "display_name": talent.display_name,
        "slug": talent.slug,
        "program_name": talent.program_name,
        "is_active": "on",
        "sender_number": str(talent.sender_number),
        "messaging_service_sid": talent.messaging_service_sid,
        "parts_per_second": talent.parts_per_second,
        "daily_frequency_cap": talent.daily_frequency_cap,
        "approval_threshold": talent.approval_threshold,
        "default_time_zone": talent.default_time_zone,
        "min_age": talent.min_age,
        "served_countries": talent.served_countries,
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "message_frequency": talent.message_frequency,
        "support_contact": talent.support_contact,
        "help_text": "",
        "welcome_text": "",
        "data_keyword": talent.data_keyword,
        "home_texts_per_hour": talent.home_texts_per_hour,
        "abroad_texts_per_hour": talent.abroad_texts_per_hour,
        "keep_message_bodies_days": talent.keep_message_bodies_days,
        "keep_inbound_media_days": talent.keep_inbound_media_days,
        "keep_import_reports_days": talent.keep_import_reports_days,
        **{f"ask_{spec.name}": profile.ask_of(talent.signup_fields, spec) for spec in profile.PROFILE},
        "partners-TOTAL_FORMS": "0",
        "partners-INITIAL_FORMS": "0",
        "partners-MIN_NUM_FORMS": "0",
        "partners-MAX_NUM_FORMS": "1000",
        "team-TOTAL_FORMS": "0",
        "team-INITIAL_FORMS": "0",
        "team-MIN_NUM_FORMS": "0",
        "team-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return client.post(f"/admin/accounts/talent/{talent.pk}/change/", data)


def test_an_owner_cannot_copy_another_talents_messaging_service(client, personas):
    Talent.objects.filter(pk=personas.other_talent.pk).update(messaging_service_sid=SID)
    personas.talent.refresh_from_db()
    client.force_login(personas.owner)
    response = _talent_form(client, personas.talent, messaging_service_sid=SID)
    assert response.status_code == 200  # the form again, not a 500
    form = response.context["adminform"].form
    assert form.errors["messaging_service_sid"] == [SERVICE_TAKEN]
    personas.talent.refresh_from_db()
    assert personas.talent.messaging_service_sid == ""


def test_an_owner_cannot_copy_another_talents_number(client, personas):
    client.force_login(personas.owner)
    response = _talent_form(client, personas.talent, sender_number=str(personas.other_talent.sender_number))
    assert response.status_code == 200
    assert (
        "Another talent already sends from this number" in response.context["adminform"].form.errors["sender_number"][0]
    )


def test_the_form_saves_a_sender_of_its_own(client, personas):
    client.force_login(personas.owner)
    response = _talent_form(client, personas.talent, messaging_service_sid=SID)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    personas.talent.refresh_from_db()
    assert personas.talent.messaging_service_sid == SID


def test_the_database_refuses_a_shared_service(personas):
    create_talent("one", sender_number="", messaging_service_sid=SID)
    with pytest.raises(IntegrityError), transaction.atomic():
        create_talent("two", sender_number="", messaging_service_sid=SID)
    # Empty stays allowed for any number of talents.
    create_talent("three", messaging_service_sid="")
    create_talent("four", messaging_service_sid="")


# A schema test, PostgreSQL only like the others (COMMON rules): unapplying every migration after
# accounts 0006 and applying them again rebuilds each altered table on SQLite, the slowest test of
# that pass (about twice a whole migrate); PostgreSQL alters in place, and `make test` runs both.
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_migration_names_the_talents_that_share_a_sender():
    """Run the real migration against a database from before it, holding a shared service."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("accounts", "0006_team_invite")], [("accounts", "0007_security")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_apps = executor.loader.project_state(before).apps
        OldTalent = old_apps.get_model("accounts", "Talent")
        for slug in ("alpha", "beta"):
            OldTalent.objects.create(slug=slug, display_name=slug, program_name=slug, messaging_service_sid=SID)
        executor = MigrationExecutor(connection)
        with pytest.raises(RuntimeError, match=r"messaging_service_sid MG[b]+ is used by talents alpha, beta"):
            executor.migrate(after)
        OldTalent.objects.filter(slug="beta").update(messaging_service_sid="")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    assert Talent.objects.get(slug="alpha").messaging_service_sid == SID


# --- across the talent's own sender and the pools (Settings > Senders, issue 17) ---------------------
def _pool_sender(talent, **address):
    from messaging.sending.models import Sender

    return Sender.objects.create(talent=talent, kind="toll_free", **address)


def _sender_form(client, talent, **address):
    return client.post(
        "/admin/messaging/sender/add/",
        {"talent": talent.pk, "kind": "toll_free", "position": 0, "rate_overrides": "{}", **address},
    )


def test_an_owner_cannot_put_another_talents_number_or_service_in_their_pool(client, personas):
    """Inbound routing reads a talent's own sender first: a copy in another pool would take the
    replies (STOP included) meant for one talent's fans to the other talent."""
    from messaging.conversations.inbound import talent_for
    from messaging.sending.models import Sender

    Talent.objects.filter(pk=personas.other_talent.pk).update(messaging_service_sid=SID)
    client.force_login(personas.owner)
    number = _sender_form(client, personas.talent, phone_number=str(personas.other_talent.sender_number))
    assert number.status_code == 200 and "Another talent already sends from this number" in number.content.decode()
    service = _sender_form(client, personas.talent, messaging_service_sid=SID)
    assert (
        service.status_code == 200
        and SERVICE_TAKEN in service.context["adminform"].form.errors["messaging_service_sid"]
    )
    assert not Sender.objects.exists()
    assert talent_for(to=str(personas.other_talent.sender_number), messaging_service_sid="") == personas.other_talent
    # The talent's own number in its own pool is its own.
    own = _sender_form(client, personas.talent, phone_number=str(personas.talent.sender_number))
    assert own.status_code == 302


def test_an_owner_cannot_take_a_number_or_service_from_another_talents_pool(client, personas):
    pool_number = _pool_sender(personas.other_talent, phone_number="+14155550177")
    _pool_sender(personas.other_talent, messaging_service_sid=SID)
    client.force_login(personas.owner)
    response = _talent_form(client, personas.talent, sender_number=pool_number.phone_number)
    assert response.status_code == 200
    assert (
        "Another talent already sends from this number" in response.context["adminform"].form.errors["sender_number"][0]
    )
    response = _talent_form(client, personas.talent, messaging_service_sid=SID)
    assert response.context["adminform"].form.errors["messaging_service_sid"] == [SERVICE_TAKEN]
    personas.talent.refresh_from_db()
    assert (
        str(personas.talent.sender_number) != pool_number.phone_number and personas.talent.messaging_service_sid == ""
    )
