"""Inbound MMS (issue 13 §3): the media a fan sends, fetched, checked, stored, served to the team.

- `media_record(message)` (from `services.on_real_reply`, in the rule processor's transaction)
  writes one `InboundMedia` row per MediaUrlN/MediaContentTypeN of the stored webhook payload and
  queues the fetch after commit. The webhook itself never fetches (it must answer Twilio fast).
- `media_fetch(message_id)` (a django-q2 task) downloads each pending file through the twilio SDK's
  own HTTP client (`TwilioHttpClient`: the account's credentials, timeout and logging), so the
  sandbox (messaging/sandbox/, TWILIO_API_BASE_URL) serves it in tests and development and
  Twilio in production. Only URLs on the Twilio API host are fetched (the payload is signed by
  Twilio, but a URL to anywhere else is refused anyway: no server-side request to our network).
  The type must be one of MEDIA_TYPES and the size at most MAX_MEDIA_BYTES (declared and real).
- Files go under MEDIA_ROOT/inbox-media/<talent>/ with a random 32-character name
  (models._media_path): nothing guessable, nothing personal in the name. MEDIA_URL does not serve
  that folder; `ConversationAdmin.media_view` serves a file to the talent's team only.
- Erasure (`media_erase_for_fan`) and retention (`media_expire`) delete rows and files; a file is
  removed after the transaction commits, so a rollback never leaves a row without its file.
"""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, QuerySet

from messaging.conversations.models import MEDIA_TYPES, InboundMedia
from messaging.sms.models import InboundMessage

logger = logging.getLogger(__name__)

FETCH_TASK = "messaging.tasks.fetch_inbound_media"
MAX_MEDIA_BYTES = 5 * 1024 * 1024  # Twilio's own cap for an inbound MMS
MAX_ITEMS = 10  # Twilio sends at most 10 media per message
MAX_ATTEMPTS = 3
S = InboundMedia.Status


def media_items(payload) -> list[tuple[int, str, str]]:
    """(position, url, content type) from a stored webhook payload; malformed values are skipped."""
    if not isinstance(payload, dict):
        return []
    try:
        count = min(int(payload.get("NumMedia") or 0), MAX_ITEMS)
    except (TypeError, ValueError):
        return []
    items = []
    for n in range(max(count, 0)):
        url = str(payload.get(f"MediaUrl{n}") or "").strip()
        kind = str(payload.get(f"MediaContentType{n}") or "").strip().lower()[:100]
        if url.startswith(("https://", "http://")) and len(url) <= 500:
            items.append((n, url, kind))
    return items


def media_record(message: InboundMessage) -> list[InboundMedia]:
    """Rows for the text's media (idempotent: a redelivered text adds nothing), fetched after commit."""
    items = media_items(message.payload)
    if not items or message.fan_id is None:
        return []
    rows = [
        InboundMedia(
            talent_id=message.talent_id,
            fan_id=message.fan_id,
            message_id=message.pk,
            position=n,
            source_url=url,
            content_type=kind,
        )
        for n, url, kind in items
    ]
    InboundMedia.objects.bulk_create(rows, ignore_conflicts=True)
    message_id = message.pk
    transaction.on_commit(lambda: _enqueue(message_id))
    return rows


def _enqueue(message_id: int) -> None:
    from django_q.tasks import async_task

    async_task(FETCH_TASK, message_id, group="inbound-media")


def _allowed_host(url: str) -> bool:
    base = settings.TWILIO_API_BASE_URL or "https://api.twilio.com"
    wanted = urlsplit(base)
    got = urlsplit(url)
    return (got.scheme, got.hostname, got.port) == (wanted.scheme, wanted.hostname, wanted.port)


def _provider_configured() -> bool:
    return bool(settings.TWILIO_API_BASE_URL) or settings.SMS_BACKEND.endswith(".twilio.TwilioBackend")


def _http_client():
    from twilio.http.http_client import TwilioHttpClient

    return TwilioHttpClient(timeout=settings.TWILIO_HTTP_TIMEOUT, pool_connections=False)


def _download(url: str, http_client) -> tuple[int, str, bytes]:
    """GET through the SDK's client. Its Response keeps only `.text` (decoded: binary is lost), so a
    response hook keeps the raw body of the underlying requests.Response."""
    raw: dict = {}

    def keep(response, *args, **kwargs):
        raw["content"] = response.content
        raw["type"] = response.headers.get("Content-Type", "")
        return response

    hooks = dict(http_client.request_hooks or {})
    hooks["response"] = [keep]
    http_client.request_hooks = hooks
    try:
        response = http_client.request(
            "GET", url, auth=(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN), allow_redirects=True
        )
    finally:
        hooks.pop("response", None)
    content_type = str(raw.get("type", "")).split(";")[0].strip().lower()
    return response.status_code, content_type, raw.get("content", b"")


def media_fetch(*, message_id: int, http_client=None) -> dict[str, int]:
    """Fetch the text's pending media. Network outside any transaction; each result is saved with
    its row locked and still pending (an erasure that ran meanwhile wins: the file is not kept)."""
    counts = {"stored": 0, "refused": 0, "failed": 0, "retry": 0}
    pending = list(InboundMedia.objects.filter(message_id=message_id, status=S.PENDING).order_by("position"))
    for row in pending:
        outcome, error, content, kind = _fetch_one(row, http_client)
        with transaction.atomic():
            locked = InboundMedia.objects.select_for_update().filter(pk=row.pk, status=S.PENDING).first()
            if locked is None:
                continue  # erased or fetched by a redelivered task meanwhile
            locked.attempts = F("attempts") + 1
            if outcome == S.STORED:
                locked.content_type = kind
                locked.size = len(content)
                locked.file.save("media", ContentFile(content), save=False)  # a random name: models._media_path
                locked.source_url = ""
                locked.status = S.STORED
            elif outcome == "retry" and row.attempts + 1 < MAX_ATTEMPTS:
                locked.error = error[:200]
                counts["retry"] += 1
                locked.save()
                continue
            else:
                locked.status = S.REFUSED if outcome == S.REFUSED else S.FAILED
                locked.error = error[:200]
            try:
                locked.save()
            except Exception:
                if locked.file:
                    default_storage.delete(locked.file.name)  # no row, no file
                raise
        counts[str(locked.status)] += 1
    if counts["retry"]:
        transaction.on_commit(lambda: _enqueue(message_id))
    return counts


def _fetch_one(row: InboundMedia, http_client) -> tuple[str, str, bytes, str]:
    declared = row.content_type
    if declared not in MEDIA_TYPES:
        return S.REFUSED, f"type {declared or 'unknown'} is not accepted", b"", declared
    if not _provider_configured():
        # The console and locmem backends (development, tests) have no provider holding the file:
        # nothing is fetched from the internet unless Twilio (or the sandbox) is configured.
        return S.FAILED, "no SMS provider to fetch it from (SMS_BACKEND is not twilio)", b"", declared
    if not _allowed_host(row.source_url):
        return S.REFUSED, "not a URL of the SMS provider", b"", declared
    try:
        status, kind, content = _download(row.source_url, http_client or _http_client())
    except Exception as exc:  # network errors of every kind: try again later
        logger.warning("inbound media %s: fetch failed (%s)", row.pk, type(exc).__name__)
        return "retry", f"could not reach the provider ({type(exc).__name__})", b"", declared
    if status == 404:
        return S.FAILED, "the provider no longer has this file", b"", declared
    if status >= 500 or status == 429:
        return "retry", f"the provider answered {status}", b"", declared
    if status != 200:
        return S.FAILED, f"the provider answered {status}", b"", declared
    kind = kind or declared
    if kind not in MEDIA_TYPES:
        return S.REFUSED, f"type {kind} is not accepted", b"", kind
    if len(content) > MAX_MEDIA_BYTES:
        return S.REFUSED, f"larger than {MAX_MEDIA_BYTES // (1024 * 1024)} MB", b"", kind
    if not content:
        return S.FAILED, "the file was empty", b"", kind
    return S.STORED, "", content, kind


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete an inbound media file")


def _delete_rows(rows: QuerySet[InboundMedia]) -> int:
    names = [n for n in rows.values_list("file", flat=True) if n]
    count, _ = rows.delete()
    if names:
        transaction.on_commit(lambda: _delete_files(names))
    return count


def media_erase_for_fan(*, fan_id: int) -> int:
    """Erasure: the fan's media rows and files go (files after commit)."""
    return _delete_rows(InboundMedia.objects.filter(fan_id=fan_id))


def media_expire(*, talent_id: int, before: dt.datetime) -> int:
    """Retention: media older than the talent's keep_inbound_media_days go (rows and files)."""
    return _delete_rows(InboundMedia.objects.filter(talent_id=talent_id, created_at__lt=before))


def media_for_messages(message_ids: list[int]) -> dict[int, list[InboundMedia]]:
    found: dict[int, list[InboundMedia]] = {}
    for row in InboundMedia.objects.filter(message_id__in=message_ids).order_by("message_id", "position"):
        found.setdefault(row.message_id, []).append(row)
    return found
