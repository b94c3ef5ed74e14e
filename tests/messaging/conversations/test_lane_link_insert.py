"""The rule processor's join links inserted in one statement (inbound.insert_links) are the rows
bulk_create would have written: every column, a suppressed one too."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import Fan
from messaging.conversations.inbound import _join_link, _JoinLinkText, insert_links
from messaging.conversations.priority import guard_links
from messaging.sms.models import OutboundMessage
from tests.factories import create_fan, create_talent

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]
_SKIP = {"id", "created_at", "updated_at"}


def _columns(row: OutboundMessage) -> dict:
    return {f.attname: getattr(row, f.attname) for f in OutboundMessage._meta.concrete_fields if f.name not in _SKIP}


def test_the_same_rows_as_bulk_create():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement insert is PostgreSQL's (SQLite bulk_creates)")
    talent = create_talent(abroad_texts_per_hour=0)  # a number abroad is refused: one suppressed row
    fans = [create_fan(talent, status=Fan.Status.PENDING) for _ in range(3)]
    fans.append(create_fan(talent, phone="+447700900123", status=Fan.Status.PENDING))
    text = _JoinLinkText(talent)
    ours = [_join_link(talent, fan, text) for fan in fans]
    guard_links(talent=talent, messages=ours)
    insert_links(ours)
    mine = {m.fan_id: _columns(m) for m in OutboundMessage.objects.filter(talent=talent)}
    OutboundMessage.objects.filter(talent=talent).delete()
    theirs = [_join_link(talent, fan, text) for fan in fans]
    guard_links(talent=talent, messages=theirs)
    OutboundMessage.objects.bulk_create(theirs)
    expected = {m.fan_id: _columns(m) for m in OutboundMessage.objects.filter(talent=talent)}
    assert mine == expected
    assert len(mine) == 4
    assert sorted(r["status"] for r in mine.values()) == ["pending", "pending", "pending", "suppressed"]
    rows = OutboundMessage.objects.filter(talent=talent)
    assert all(r.created_at and r.updated_at for r in rows)
