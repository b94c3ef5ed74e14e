"""Reading an import file: UTF-8 lines, the header mapped to fields by their aliases, and each row
cleaned (phone to E.164, profile fields checked against the one profile spec, erased and duplicate
numbers refused) into a CleanRow, or a (line, reason) error. Pure reading: nothing here writes."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from accounts import phones
from accounts.models import Talent
from accounts.phones import PhoneError, phone_hasher
from accounts.profile import PROFILE, TEXT_FIELDS


def normalise_phone(raw: str, default_region: str) -> str:
    """E.164 for a number in an import; raises accounts.phones.PhoneError with a reason."""
    return phones.parse(raw, region=default_region)


# --- reading CSV ---------------------------------------------------------------------------------------
class ImportRefused(ValueError):
    """The file as a whole cannot be imported; nothing from it lands."""


HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "phone_number", "phonenumber", "mobile", "mobile_number", "cell", "msisdn", "number"),
    **{f.name: f.import_aliases for f in PROFILE},  # the one profile spec (accounts/profile.py)
    "tags": ("tags", "tag"),
}
ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
PROFILE_FIELDS = list(TEXT_FIELDS)  # copied as given; birth_date is parsed on its own
_MAX_LEN = {f.name: f.max_length for f in PROFILE if f.max_length and f.kind != "date"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def norm_header(h: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", h.strip().lower()).strip("_")


def map_header(header: list[str]) -> dict[str, int]:
    """{field: column index} from a header row; refuses a file without a phone column."""
    mapping: dict[str, int] = {}
    for index, name in enumerate(header):
        target = ALIAS_TO_FIELD.get(norm_header(name))
        if target is None:
            continue
        if target in mapping:
            raise ImportRefused(f"line 1: two columns map to {target!r} ({header[mapping[target]]!r} and {name!r})")
        mapping[target] = index
    if "phone" not in mapping:
        raise ImportRefused(
            "line 1: no phone column in the header (expected one of: " + ", ".join(HEADER_ALIASES["phone"]) + ")"
        )
    return mapping


def text_lines(binary: IO[bytes] | Iterator[bytes]) -> Iterator[str]:
    """UTF-8 (BOM or not) physical lines; a wrong encoding refuses the file naming the line."""
    line_no = 0
    for raw in binary:
        line_no += 1
        if line_no == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ImportRefused(f"line {line_no}: the file is not UTF-8 text (save it as CSV UTF-8 and try again)")
        if "\x00" in line:
            raise ImportRefused(f"line {line_no}: NUL byte; this is not a CSV text file")
        yield line


@dataclass
class CleanRow:
    line: int
    phone: str
    values: dict[str, Any]
    tags: list[str]


@dataclass
class ParseState:
    errors: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0
    skipped_erased: int = 0
    seen: dict[str, int] = field(default_factory=dict)
    columns: set[str] = field(default_factory=set)


class RowReader:
    """Turns CSV lines into CleanRow objects, recording bad rows with their line numbers."""

    def __init__(self, *, talent: Talent, default_region: str, erased_hashes: set[str], max_rows: int) -> None:
        self.talent = talent
        self.region = default_region
        self.erased = erased_hashes
        self.hasher = None
        if erased_hashes:
            self.hasher = phone_hasher(talent.pk)
        self.max_rows = max_rows
        self.zones = zoneinfo.available_timezones()
        today = timezone.localdate()
        try:
            self.latest_birth = today.replace(year=today.year - talent.min_age)
        except ValueError:
            self.latest_birth = today.replace(year=today.year - talent.min_age, day=28)
        self.state = ParseState()

    def rows(self, binary: IO[bytes]) -> Iterator[CleanRow]:
        reader = csv.reader(text_lines(binary), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportRefused("the file is empty")
        except csv.Error as exc:
            raise ImportRefused(f"line 1: malformed CSV ({exc})")
        mapping = map_header(header)
        self.state.columns = set(mapping)
        width = len(header)
        state = self.state
        phone_i = mapping["phone"]
        getters = [(name, mapping[name]) for name in PROFILE_FIELDS + ["birth_date", "tags"] if name in mapping]
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportRefused(f"line {reader.line_num}: malformed CSV ({exc})")
            line = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # blank line
            state.total += 1
            if state.total > self.max_rows:
                raise ImportRefused(f"more than {self.max_rows:,} rows; split the file")
            if len(record) != width:
                state.errors.append((line, f"expected {width} columns, found {len(record)}"))
                continue
            try:
                phone = normalise_phone(record[phone_i], self.region)
            except PhoneError as exc:
                state.errors.append((line, str(exc)))
                continue
            if self.hasher is not None and self.hasher(phone) in self.erased:
                state.skipped_erased += 1
                continue
            first = state.seen.get(phone)
            if first is not None:
                state.errors.append((line, f"duplicate of line {first} (same phone number)"))
                continue
            values: dict[str, Any] = {}
            tags: list[str] = []
            error = None
            for name, index in getters:
                raw = record[index].strip()
                if not raw:
                    continue
                if name == "birth_date":
                    try:
                        born = dt.date.fromisoformat(raw)
                    except ValueError:
                        error = f"birth_date {raw!r} is not a date (YYYY-MM-DD)"
                        break
                    if born > self.latest_birth:
                        error = f"born {raw}: younger than the minimum age {self.talent.min_age}"
                        break
                    values[name] = born
                elif name == "tags":
                    tags = [t.strip() for t in raw.split(";") if t.strip()]
                    if any(len(t) > 60 for t in tags):
                        error = "a tag is longer than 60 characters"
                        break
                elif name == "country":
                    code = raw.upper()
                    if len(code) != 2 or not code.isalpha() or not code.isascii():
                        error = f"country {raw!r} is not a two-letter code"
                        break
                    values[name] = code
                elif name == "time_zone":
                    if raw not in self.zones:
                        error = f"time_zone {raw!r} is not an IANA time zone"
                        break
                    values[name] = raw
                else:
                    if len(raw) > _MAX_LEN[name]:
                        error = f"{name} is longer than {_MAX_LEN[name]} characters"
                        break
                    if name == "email" and not _EMAIL.match(raw):
                        error = f"email {raw!r} is not an email address"
                        break
                    values[name] = raw
            if error:
                state.errors.append((line, error))
                continue
            state.seen[phone] = line
            yield CleanRow(line, phone, values, tags)


def max_import_rows() -> int:
    return getattr(settings, "AUDIENCE_IMPORT_MAX_ROWS", 2_000_000)


def max_import_bytes() -> int:
    return getattr(settings, "AUDIENCE_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
