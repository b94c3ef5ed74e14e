"""Streamed audience exports (CSV / JSONL) with an audit row before the first byte."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from accounts.actors import require
from accounts.audit import audit
from accounts.models import Fan, Talent
from accounts.profile import PROFILE
from consent.models import Partner
from messaging.audience.models import ContactList, ExportAudit, Segment
from messaging.audience.services import (
    AudienceError,
    audience_breakdown,
    contact_list_queryset,
    reachable,
    segment_queryset,
)

# --- export -----------------------------------------------------------------------------------------------
# name: (label, kind) - kind decides formatting: text cells are neutralised, timestamps ISO 8601 UTC.
_EXPORT_KIND = {"date": "date"}  # every other profile kind is a text cell
# Export headers other tools already read; the profile spec's form labels elsewhere.
_EXPORT_LABEL = {"region": "Region"}
EXPORT_COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("Fan id", "int"),
    # Plain E.164 ("+14155552671"): the value is ours (parsed, digits only), never free text, so it
    # needs no formula guard, and an apostrophe would break every tool that reads the number back.
    "phone": ("Phone", "phone"),
    # The profile, from the one spec (accounts/profile.py), in its order.
    **{f.name: (_EXPORT_LABEL.get(f.name, f.label), _EXPORT_KIND.get(f.kind, "text")) for f in PROFILE},
    "status": ("Status", "text"),
    "source": ("Source", "text"),
    "shares_with_partners": ("Shares with partners", "bool"),
    "joined_at": ("Joined at", "timestamp"),
    "last_sent_at": ("Last sent at", "timestamp"),
    "last_reply_at": ("Last reply at", "timestamp"),
    "last_click_at": ("Last click at", "timestamp"),
}
DEFAULT_EXPORT_COLUMNS = ["phone", "first_name", "last_name", "email", "country", "joined_at"]
# OWASP's list: a spreadsheet treats a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXPORT_FORMATS = ("csv", "jsonl")
# Who an export holds. Reachable fans (active, consented) unless the team asks, with a stated
# purpose that is audited, for the fans who opted out: a suppression list for another tool, the
# one lawful reason to hand those numbers on. Pending fans never agreed; erased fans are gone.
EXPORT_AUDIENCES = {"reachable": "Reachable fans (active, consented)", "opted_out": "Opted-out fans (suppression list)"}
_CHUNK = 256 * 1024


def neutralise(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


@dataclass
class ExportStream:
    """An export ready to stream: iterate `chunks()` once; the audit row is already written."""

    audit_row: ExportAudit
    filename: str
    content_type: str
    _chunks: Callable[[], Iterator[bytes]]

    def chunks(self) -> Iterator[bytes]:
        return self._chunks()

    def download(self) -> StreamingHttpResponse:
        """The file as a streamed download: the same answer for the console and both APIs, never
        cached (fans' numbers must not stay in a proxy or the browser's cache)."""
        response = StreamingHttpResponse(self.chunks(), content_type=self.content_type)
        response["Content-Disposition"] = f'attachment; filename="{self.filename}"'
        response["Cache-Control"] = "no-store"
        return response


def audience_export(
    *,
    talent: Talent,
    actor: Any,
    segment: Segment | None = None,
    contact_list: ContactList | None = None,
    columns: list[str] | None = None,
    file_format: str = "csv",
    for_partner: bool = False,
    partner: Partner | None = None,
    via: str = "console",
    audience: str = "reachable",
    purpose: str = "",
) -> ExportStream:
    """Prepare a streamed export of a segment or a list, writing its audit rows first.

    audience "reachable" (default) exports the active fans; "opted_out" the fans who opted out,
    only with a `purpose` (recorded in both audit rows). Erased fans are never exported.

    A partner export names the partner it is for, one of the talent's list (consent.Partner, shown
    on its public privacy page): fans agreed to share with those, not with anyone. It holds
    reachable fans who agreed to sharing, never a suppression list.
    """

    require(actor, "export", talent)
    for_partner = for_partner or partner is not None
    if for_partner:
        if partner is None:
            raise AudienceError("Pick the partner this file is for, from the talent's partner list.")
        if partner.talent_id != talent.pk or not partner.is_active:
            raise AudienceError(f"{partner.name} is not one of {talent.display_name}'s current partners.")
    if (segment is None) == (contact_list is None):
        raise AudienceError("Export exactly one segment or one contact list.")
    source = segment or contact_list
    assert source is not None  # exactly one of the two, checked above
    if source.talent_id != talent.pk:
        raise AudienceError(f"That {'segment' if segment else 'contact list'} belongs to another talent.")
    columns = list(columns or DEFAULT_EXPORT_COLUMNS)
    unknown = [c for c in columns if c not in EXPORT_COLUMNS]
    if unknown:
        raise AudienceError(f"Unknown column {unknown[0]!r}; choose from {', '.join(EXPORT_COLUMNS)}.")
    if len(set(columns)) != len(columns):
        raise AudienceError("A column is chosen twice.")
    if file_format not in EXPORT_FORMATS:
        raise AudienceError(f"Unknown format {file_format!r}; use csv or jsonl.")
    purpose = (purpose or "").strip()
    if audience not in EXPORT_AUDIENCES:
        raise AudienceError(f"Unknown audience {audience!r}; use {' or '.join(EXPORT_AUDIENCES)}.")
    if audience == "opted_out":
        if len(purpose) < 5:
            raise AudienceError("Say why you export fans who opted out (e.g. 'suppression list for our email tool').")
        if for_partner:
            raise AudienceError("Fans who opted out are never exported for a partner.")

    qs = export_queryset(segment=segment, contact_list=contact_list, audience=audience, for_partner=for_partner)

    with transaction.atomic():
        row = ExportAudit.objects.create(
            talent=talent,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            via=via,
            segment=segment,
            contact_list=contact_list,
            audience_name=str(source),
            columns=columns,
            file_format=file_format,
            for_partner=for_partner,
            partner=partner,
            partner_name=partner.name if partner else "",
            audience=audience,
            purpose=purpose[:200],
        )
        audit(
            "audience.exported",
            talent=talent,
            actor=actor,
            obj=source,
            export_id=row.pk,
            columns=columns,
            format=file_format,
            for_partner=for_partner,
            partner=partner.pk if partner else None,
            via=via,
            audience=audience,
            purpose=purpose[:200],
        )

    def chunks() -> Iterator[bytes]:
        count = 0
        completed = False
        try:
            if file_format == "csv":
                yield (",".join(columns) + "\n").encode()
            body = _copy_chunks(qs, columns, file_format) if connection.vendor == "postgresql" else None
            if body is None:
                body = _orm_chunks(qs, columns, file_format)
            for data, rows in body:
                count += rows
                yield data
            completed = True
        finally:
            ExportAudit.objects.filter(pk=row.pk).update(
                row_count=count, completed=completed, finished_at=timezone.now()
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", str(source)).strip("-") or "audience"
    ext = "csv" if file_format == "csv" else "jsonl"
    content_type = "text/csv; charset=utf-8" if file_format == "csv" else "application/x-ndjson; charset=utf-8"
    return ExportStream(row, f"{talent.slug}-{safe}-{stamp}.{ext}", content_type, chunks)


def _source_queryset(segment: Segment | None, contact_list: ContactList | None) -> QuerySet[Fan]:
    if segment is not None and segment.is_builtin:
        # "all" is every fan of the talent here: the audience filter below picks the reachable
        # ones, or, for a suppression list, the ones who opted out (the stored rule says active only).
        return Fan.objects.filter(talent_id=segment.talent_id)
    if segment is not None:
        return segment_queryset(segment)
    return contact_list_queryset(cast(ContactList, contact_list))


def export_queryset(
    *,
    segment: Segment | None = None,
    contact_list: ContactList | None = None,
    audience: str = "reachable",
    for_partner: bool = False,
) -> QuerySet[Fan]:
    """The fans an export holds (see EXPORT_AUDIENCES); erased fans never."""
    qs = _source_queryset(segment, contact_list)
    # Reachable: active fans whose number can receive texts (audience.reachable), the rows the
    # export page counts; a suppression list is every opted-out fan.
    qs = qs.filter(status=Fan.Status.OPTED_OUT) if audience == "opted_out" else reachable(qs)
    if for_partner:  # partners get only fans who agreed to sharing
        qs = qs.filter(shares_with_partners=True)
    return qs


def export_counts(
    *, segment: Segment | None = None, contact_list: ContactList | None = None, for_partner: bool = False
) -> dict[str, int]:
    """What the export page says before anything downloads: rows per audience, and the fans left
    out (pending, erased: a count, never their rows). One aggregate query (two for a partner)."""
    qs = _source_queryset(segment, contact_list)
    counts = audience_breakdown(qs)
    if for_partner:
        counts["reachable"] = reachable(qs).filter(shares_with_partners=True).count()
    return counts


def export_select_sql(qs: QuerySet[Fan], columns: list[str], file_format: str) -> tuple[str, list[Any]]:
    """The SELECT that COPY streams: formatting and neutralisation in SQL, rows in id order.

    Cheap expressions on purpose (the target is 2x a bare COPY): ascii() of the first character
    against the formula starts, PostgreSQL's own ISO output for dates; timestamps go through one
    to_char() each, because its default output ("2026-03-01 18:04:05.12+00") is not the ISO 8601
    other tools parse.
    """
    inner, params = qs.order_by("id").values(*columns).query.sql_with_params()
    qn = connection.ops.quote_name
    starts = ", ".join(str(ord(c)) for c in _FORMULA_STARTS)
    exprs = []
    for name in columns:
        kind = EXPORT_COLUMNS[name][1]
        col = f"t.{qn(name)}"
        if kind == "text" and file_format == "csv":
            expr = f"CASE WHEN ascii({col}) IN ({starts}) THEN '''' || {col} ELSE {col} END"
        elif kind == "timestamp":
            # ISO 8601 in UTC, to the second ("2026-03-01T18:04:05Z"), which every tool parses.
            expr = f"to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        elif kind == "bool" and file_format == "csv":
            expr = f"CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END"
        else:
            expr = col
        exprs.append((name, expr))
    if file_format == "csv":
        select = ", ".join(expr for _, expr in exprs)
    else:
        pairs = ", ".join(f"'{name}', {expr}" for name, expr in exprs)
        select = f"json_build_object({pairs})::text"
    return f"SELECT {select} FROM ({inner}) t", list(params)  # noqa: S608 - column names are whitelisted


def _copy_chunks(qs: QuerySet[Fan], columns: list[str], file_format: str) -> Iterator[tuple[bytes, int]]:
    select, params = export_select_sql(qs, columns, file_format)
    if file_format == "csv":
        options = "FORMAT csv, ENCODING 'UTF8'"
    else:
        # One JSON text per line, written verbatim: CSV mode with a quote and delimiter that JSON
        # text never contains (it escapes control characters), so nothing is quoted or escaped.
        options = "FORMAT csv, ENCODING 'UTF8', QUOTE E'\\x01', DELIMITER E'\\x02'"
    buffer = bytearray()
    rows = 0
    # The raw psycopg cursor: Django's debug wrapper (DEBUG, tests) has a copy() without params.
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY ({select}) TO STDOUT WITH ({options})", params) as copy,
    ):
        # PostgreSQL sends one CopyData message per row, so counting messages counts rows.
        for data in copy:
            buffer += data
            rows += 1
            if len(buffer) >= _CHUNK:
                yield bytes(buffer), rows
                buffer.clear()
                rows = 0
    if buffer or rows:
        yield bytes(buffer), rows


def _format_cell(value: Any, kind: str, file_format: str) -> Any:
    if value is None:
        return None if file_format == "jsonl" else ""
    if kind == "timestamp":
        # ISO 8601 in UTC to the second, as export_select_sql writes it on PostgreSQL.
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "date":
        return value.isoformat()
    if kind == "bool":
        return value if file_format == "jsonl" else ("true" if value else "false")
    if kind == "text":
        text = str(value)
        return neutralise(text) if file_format == "csv" else text
    return value


def _orm_chunks(qs: QuerySet[Fan], columns: list[str], file_format: str) -> Iterator[tuple[bytes, int]]:
    """Keyset pages by id (never OFFSET, never one big cursor): constant memory on any database."""
    kinds = [EXPORT_COLUMNS[c][1] for c in columns]
    last_id = 0
    fetch = ["id", *columns] if "id" not in columns else columns
    id_index = fetch.index("id")
    while True:
        page = list(qs.filter(id__gt=last_id).order_by("id").values_list(*fetch)[:2000])
        if not page:
            return
        last_id = page[-1][id_index]
        out = io.StringIO()
        if file_format == "csv":
            writer = csv.writer(out, lineterminator="\n")  # as PostgreSQL's COPY writes it
            for record in page:
                values = record if fetch is columns else record[1:]
                writer.writerow([_format_cell(v, k, "csv") for v, k in zip(values, kinds, strict=True)])
        else:
            for record in page:
                values = record if fetch is columns else record[1:]
                obj = {c: _format_cell(v, k, "jsonl") for c, v, k in zip(columns, values, kinds, strict=True)}
                out.write(json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n")
        yield out.getvalue().encode(), len(page)


def segment_by_name(*, talent: Talent, name: str) -> Segment:

    try:
        return Segment.objects.get(talent=talent, name=name)
    except Segment.DoesNotExist:
        raise AudienceError(f"No segment named {name!r} for {talent.slug}.")
