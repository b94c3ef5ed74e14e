"""The join links' rows and the fans links are made for (issue 10, seventh session: moved out of
inbound.py and priority.py as they passed 500 lines; the definitions are unchanged).

- The rule processor's chunk of join links: one body per talent and chunk (`_JoinLinkText`), a row
  per new number (`_join_link`), all inserted in one statement (`insert_links`).
- The priority lane's fans for the links it makes as a text leaves (`LinkFan`, `_link_fans`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import CharField
from django.db.models.expressions import DatabaseDefault
from django.db.models.functions import Cast

from accounts import phones
from accounts.models import Fan, Talent
from accounts.phones import known_number, phone_text
from accounts.tokens import JOIN_LINK, preview_links
from consent import texts
from messaging.sms.models import OutboundMessage
from messaging.sms.parts import sms_parts

Lane = OutboundMessage.Lane


class _JoinLinkText:
    """A chunk's join-link body and its SMS parts, made once per talent and chunk (the same text
    for every number; a URL reverse and a parts count each link before)."""

    def __init__(self, talent: Talent) -> None:
        # The link is a credential: stored as a placeholder, made when the text leaves (accounts/tokens.py).
        self.body = texts.join_link(talent, JOIN_LINK)
        self.parts = max(1, sms_parts(preview_links(self.body, talent=talent)).parts)


def _join_link(talent: Talent, fan: Fan, text: _JoinLinkText | None = None) -> OutboundMessage:
    text = text or _JoinLinkText(talent)
    return OutboundMessage(
        talent=talent,
        fan=fan,
        kind=OutboundMessage.Kind.SYSTEM,
        lane=Lane.LINK,
        to_number=phones.phone_text(fan.phone),
        body=text.body,
        parts=text.parts,
        status=OutboundMessage.Status.PENDING,
    )


# What differs between the join links of one talent's chunk; every other column is the same.
_LINK_VARYING = {"fan": "bigint", "to_number": "text", "status": "text", "error_message": "text"}


def insert_links(links: list[OutboundMessage]) -> None:
    """A chunk's join links (one talent's, made by _join_link) in one INSERT. On PostgreSQL the
    columns they share are prepared once, from the first row, the way bulk_create prepares each
    row's (`pre_save`, `get_db_prep_save`; a column left to its database default stays so), and the
    per-number ones go as four arrays through `unnest`: bulk_create prepared ~20 values a link and
    psycopg parsed a 2,000-placeholder statement a chunk, a fifth of the rules' CPU a link
    (bench/lane_cpu.py). The same rows either way (tests/messaging/conversations/test_lane_link_insert.py).
    The rows' pks are not read back (nothing uses them)."""
    if not links:
        return
    first = links[0]
    if connection.vendor != "postgresql" or any(
        m.talent_id != first.talent_id or m.body != first.body or m.parts != first.parts for m in links
    ):
        OutboundMessage.objects.bulk_create(links)
        return
    meta = OutboundMessage._meta
    columns: list[str] = []
    selects: list[str] = []
    params: list = []
    for field in meta.local_concrete_fields:
        if field.primary_key or field.name in _LINK_VARYING:
            continue
        value = field.pre_save(first, add=True)
        if isinstance(value, DatabaseDefault):
            continue  # as bulk_create does: the database fills it
        if hasattr(value, "resolve_expression"):
            OutboundMessage.objects.bulk_create(links)  # an expression: not ours to prepare
            return
        columns.append(connection.ops.quote_name(field.column))
        selects.append(f"CAST(%s AS {field.cast_db_type(connection)})")  # type: ignore[attr-defined]
        params.append(field.get_db_prep_save(value, connection))
    names: list[str] = [meta.get_field(name).column for name in _LINK_VARYING]  # type: ignore[union-attr,misc]
    arrays = ", ".join(f"%s::{kind}[]" for kind in _LINK_VARYING.values())
    sql = (
        f"INSERT INTO {meta.db_table} ({', '.join(columns + names)}) "  # noqa: S608 - the model's own names
        f"SELECT {', '.join(selects + [f'u.{n}' for n in names])} FROM unnest({arrays}) AS u({', '.join(names)})"
    )
    rows: list[list] = [[m.fan_id for m in links], [m.to_number for m in links], [m.status for m in links]]
    rows.append([m.error_message for m in links])
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *rows])


@dataclass(frozen=True)
class LinkFan:
    """What a fan's links are made of (accounts/tokens.py `LinkHolder`), read without building a
    Fan: the model's phone field parses every number it reads (phonenumbers.parse, ~40 % of a
    batch's claim CPU); the column already holds the E.164 text the token signs."""

    pk: int
    talent_id: int
    phone: str
    link_nonce: str
    status: str


def _link_fans(fan_ids: set[int]) -> dict[int, LinkFan]:
    rows = (
        Fan.objects.filter(pk__in=fan_ids)
        .annotate(phone_column=Cast("phone", CharField()))  # the text as stored, no parse
        .values_list("pk", "talent_id", "phone_column", "link_nonce", "status")
    )
    fans = {}
    for pk, talent_id, phone, nonce, status in rows:
        if phone and not (phone.startswith("+") and phone[1:].isdigit()):
            phone = phone_text(known_number(phone))  # stored some other way: as the field would read it
        fans[pk] = LinkFan(pk=pk, talent_id=talent_id, phone=phone or "", link_nonce=nonce, status=status)
    return fans
