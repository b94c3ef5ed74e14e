"""The rule processor's strangers become pending fans in one statement (issue 10): one INSERT ...
ON CONFLICT DO NOTHING that returns what it made; a number another transaction created in between
keeps that row, as it is (it may be opted out by now), and no second row is made."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Fan
from accounts.phones import phone_hash
from accounts.services import fans_create_pending
from tests.factories import create_fan

pytestmark = pytest.mark.django_db


def test_new_numbers_are_made_by_one_insert_and_come_back_as_saved_rows(personas):
    numbers = {"+14155550181", "+14155550182", "+442071838750"}
    with CaptureQueriesContext(connection) as queries:
        fans = fans_create_pending(talent=personas.talent, phones=numbers)
    statements = [q["sql"] for q in queries.captured_queries]
    assert len([s for s in statements if s.startswith("INSERT")]) == 1, statements
    assert not [s for s in statements if s.startswith("SELECT")], statements  # nothing read back
    assert set(fans) == numbers
    for phone, fan in fans.items():
        stored = Fan.objects.get(pk=fan.pk)  # the pk is the row's
        assert str(stored.phone) == phone and stored.status == Fan.Status.PENDING
        assert (stored.phone_hash, stored.link_nonce, stored.country) == (fan.phone_hash, fan.link_nonce, fan.country)
        assert stored.phone_hash == phone_hash(talent_id=personas.talent.pk, e164=phone)
        assert not fan._state.adding  # a saved row: fan.save() updates it
    assert fans["+442071838750"].country == "GB"


def test_a_number_created_meanwhile_keeps_its_row_as_it_is(personas):
    # Created (and opted out) by another transaction after the caller's lookup found nothing.
    meanwhile = create_fan(personas.talent, "+14155550183", status=Fan.Status.OPTED_OUT)
    fans = fans_create_pending(talent=personas.talent, phones={"+14155550183", "+14155550184"})
    assert fans["+14155550183"].pk == meanwhile.pk
    assert fans["+14155550183"].status == Fan.Status.OPTED_OUT  # the committed row wins, never "pending"
    assert fans["+14155550184"].status == Fan.Status.PENDING
    assert Fan.objects.filter(talent=personas.talent, phone="+14155550183").count() == 1


def test_no_numbers_no_statement(personas):
    with CaptureQueriesContext(connection) as queries:
        assert fans_create_pending(talent=personas.talent, phones=set()) == {}
    assert not queries.captured_queries
