"""Staged uploads for the console's two-step import: preview, column mapping, kept across a form error."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO, Any

from django.core.files.base import File
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.actors import require
from accounts.models import Talent
from messaging.audience.import_rows import (
    ALIAS_TO_FIELD,
    HEADER_ALIASES,
    ImportRefused,
    max_import_bytes,
    norm_header,
    text_lines,
)

# --- staged uploads: preview, column mapping, kept across a form error --------------------------------------
# The console's import is two steps: the file is staged on the server (never served, under
# MEDIA_ROOT/imports/staged/<talent>/<token>.csv), the team sees its first rows and maps its
# columns, then confirms. A form error on either step keeps the staged file, so nobody picks it
# again; a staged file nobody confirms is deleted after STAGED_MAX_AGE by the sweeper task (it
# holds phone numbers that are nobody's fans yet, which erasure could not reach).
STAGED_DIR = "imports/staged"
STAGED_MAX_AGE = 24 * 3600
PREVIEW_ROWS = 5
IGNORE = ""  # the mapping's "do not import this column"
SAMPLE_CSV = (
    "phone,first_name,last_name,email,birth_date,city,region,postal_code,country,time_zone,tags\n"
    "(415) 555-2671,Paula,Quinn,paula@example.com,1994-03-01,San Francisco,CA,94110,US,America/Los_Angeles,vip;presale\n"
    "+44 7700 900123,Sam,Lee,,,London,,SW1A 1AA,GB,Europe/London,\n"
)
MAPPABLE = [name for name in HEADER_ALIASES]  # phone, the profile, tags


@dataclass
class StagedImport:
    token: str
    talent_id: int
    original_name: str

    @property
    def name(self) -> str:
        return f"{STAGED_DIR}/{self.talent_id}/{self.token}.csv"


def _staged_storage():
    return default_storage  # MEDIA_ROOT, of which only campaign-media/ is ever served


def import_stage(*, talent: Talent, upload: IO[bytes] | File, original_name: str, actor: Any = None) -> StagedImport:
    """Keep an uploaded file on the server until the team confirms its mapping (or it expires)."""
    require(actor, "edit_audience", talent)
    size = getattr(upload, "size", None)
    if size is not None and size > max_import_bytes():
        raise ImportRefused(f"the file is {size:,} bytes; the limit is {max_import_bytes():,}")
    staged = StagedImport(secrets.token_urlsafe(18), talent.pk, (original_name or "import.csv")[:200])
    _staged_storage().save(staged.name, upload if isinstance(upload, File) else File(upload))
    staged_sweep()  # opportunistic; the periodic task catches the rest
    return staged


def staged_exists(staged: StagedImport) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_-]{20,40}", staged.token)) and _staged_storage().exists(staged.name)


def staged_discard(staged: StagedImport) -> None:
    if staged_exists(staged):
        _staged_storage().delete(staged.name)


def staged_preview(staged: StagedImport, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]], dict[int, str]]:
    """(header, the first rows, a guessed {column index: field}) of a staged file."""
    with _staged_storage().open(staged.name, "rb") as fh:
        reader = csv.reader(text_lines(fh), strict=True)
        try:
            header = next(reader)
            sample = [row for _, row in zip(range(rows), reader, strict=False)]
        except StopIteration:
            raise ImportRefused("the file is empty")
        except csv.Error as exc:
            raise ImportRefused(f"malformed CSV near the top of the file ({exc})")
    guess: dict[int, str] = {}
    for index, name in enumerate(header):
        target = ALIAS_TO_FIELD.get(norm_header(name))
        if target is not None and target not in guess.values():
            guess[index] = target
    return header, sample, guess


def staged_apply_mapping(staged: StagedImport, mapping: dict[int, str]) -> File:
    """The staged file with its header replaced by the chosen field names (ignored columns get a
    name no alias matches), so the one import reader (map_header) reads it as mapped. The body is
    copied byte for byte; only line 1 changes."""
    targets = [t for t in mapping.values() if t != IGNORE]
    if "phone" not in targets:
        raise ImportRefused("choose which column holds the phone numbers")
    if len(set(targets)) != len(targets):
        raise ImportRefused("two columns are mapped to the same field")
    unknown = [t for t in targets if t not in MAPPABLE]
    if unknown:
        raise ImportRefused(f"{unknown[0]!r} is not a field an import fills")
    out = tempfile.TemporaryFile()
    with _staged_storage().open(staged.name, "rb") as fh:
        first = fh.readline()
        width = len(next(csv.reader([first.decode("utf-8-sig", errors="replace")]), []))
        header = [mapping.get(i, IGNORE) or f"ignored_column_{i + 1}" for i in range(width)]
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(header)
        out.write(buffer.getvalue().encode())
        shutil.copyfileobj(fh, out, 1 << 20)
    out.seek(0)
    return File(out, name=staged.original_name)


def staged_sweep(*, max_age: int = STAGED_MAX_AGE) -> int:
    """Delete staged uploads older than max_age seconds (the periodic task and each new upload run it)."""
    storage = _staged_storage()
    removed = 0
    cutoff = timezone.now() - dt.timedelta(seconds=max_age)
    try:
        talent_dirs, _ = storage.listdir(STAGED_DIR)
    except FileNotFoundError:
        return 0
    for talent_dir in talent_dirs:
        _, files = storage.listdir(f"{STAGED_DIR}/{talent_dir}")
        for name in files:
            path = f"{STAGED_DIR}/{talent_dir}/{name}"
            try:
                if storage.get_modified_time(path) < cutoff:
                    storage.delete(path)
                    removed += 1
            except FileNotFoundError:
                continue  # a concurrent sweep or confirmation took it
    return removed
