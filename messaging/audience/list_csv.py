"""Lists from a CSV of phone numbers: add (or remove) the fans a file names to one list.

Not a fan import: it creates no fan and records no consent, it only finds this talent's fans by
number (the import's own reader: the same E.164 normalising and header mapping) and hands them to
the list services. Moved out of imports.py (issue 9, module sizes); `messaging.audience.imports`
still re-exports it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings

from accounts.actors import require
from accounts.models import Fan
from accounts.phones import PhoneError
from messaging.audience.import_rows import ImportRefused, map_header, normalise_phone, text_lines
from messaging.audience.models import ContactList
from messaging.audience.services import contact_list_add_fans, contact_list_remove_fans


@dataclass
class ListCsvResult:
    matched: int = 0
    changed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def contact_list_update_from_csv(
    *, contact_list: ContactList, file: IO[bytes], remove: bool = False, default_region: str = "", actor: Any = None
) -> ListCsvResult:
    """Add (or remove) the fans whose numbers a CSV lists; unknown numbers are reported by line.

    The file may have a header with a phone column, or be a bare column of numbers.
    """

    require(actor, "edit_audience", contact_list.talent)
    region = (default_region or settings.PHONENUMBER_DEFAULT_REGION).upper()
    result = ListCsvResult()
    reader = csv.reader(text_lines(file), strict=True)
    phones: dict[str, int] = {}
    column = 0
    try:
        for record in reader:
            if not record or not record[0].strip():
                continue
            if reader.line_num == 1:
                try:
                    column = map_header(record)["phone"]
                    continue
                except ImportRefused:
                    pass  # no header: a bare column of numbers; the first line is a number too
            try:
                raw = record[column] if column < len(record) else ""
                phones.setdefault(normalise_phone(raw, region), reader.line_num)
            except PhoneError as exc:
                result.errors.append((reader.line_num, str(exc)))
    except csv.Error as exc:
        raise ImportRefused(f"line {reader.line_num}: malformed CSV ({exc})")
    if not phones and not result.errors:
        raise ImportRefused("the file lists no phone numbers")
    known = dict(
        Fan.objects.filter(talent_id=contact_list.talent_id, phone__in=list(phones)).values_list("phone", "id")
    )
    for phone, line in phones.items():
        if phone not in known:
            result.errors.append((line, f"{phone}: no fan of {contact_list.talent} with this number"))
    result.errors.sort()
    if not known:
        # Issue 15: this reached the add with an empty list and answered 500. Refuse with the reason.
        raise ImportRefused(
            f"no number in it belongs to a fan of {contact_list.talent} "
            f"({len(phones)} readable, {len(result.errors)} lines not matched)"
        )
    result.matched = len(known)
    fans = Fan.objects.filter(id__in=list(known.values()))
    if remove:
        result.changed = contact_list_remove_fans(contact_list=contact_list, fans=fans, actor=actor)
    else:
        result.changed = contact_list_add_fans(contact_list=contact_list, fans=fans, actor=actor)
    return result
