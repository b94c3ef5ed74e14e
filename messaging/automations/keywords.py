"""Keyword automations (issue 14 §1): validate, index, run, remember, preview, share.

Who calls what:
- the rule processor (messaging/conversations/inbound.py) asks `keyword_index(talent)` once per
  batch and talent, passes its words to `consent.keywords.classify` (rule 6, after every platform
  word), then calls `keyword_text` for the matched keyword;
- `on_fan_joined` (joins.py) calls `keywords_on_join`: a keyword texted before joining runs now.

Replies answer the fan's own text, so they leave at once on the priority lane (`replies.reply`,
which refuses any fan who is not active); they carry the team's words, never a campaign.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Fan, Talent
from consent.keywords import is_reserved, normalise
from messaging.audience.models import ContactListMember, FanTag
from messaging.automations import drop_joins, drops, replies, sql
from messaging.automations.keyword_models import FanKeyword, Keyword, KeywordEntrant, KeywordReply

MAX_WORD = 40
logger = logging.getLogger(__name__)


# --- the console's checks -------------------------------------------------------------------------
def keyword_words_clean(*, talent: Talent, word: str, aliases: str, keyword_id: int | None = None) -> list[str]:
    """The normalised word and aliases, or a ValidationError naming the field and the reason:
    a platform word (STOP, START, HELP, the data keyword, an opt-out sentence) or another keyword's."""
    main = normalise(word)
    if not main:
        raise ValidationError({"word": "Write the word fans text, e.g. TOUR."})
    if len(main) > MAX_WORD:
        raise ValidationError({"word": f"Keep the keyword under {MAX_WORD} characters."})
    extra = [normalise(a) for a in (aliases or "").split(",")]
    extra = [a for a in extra if a and a != main]
    errors: dict[str, list[str]] = {}
    for name, candidates in (("word", [main]), ("aliases", extra)):
        for candidate in candidates:
            if is_reserved(candidate, data_keyword=talent.data_keyword):
                errors.setdefault(name, []).append(
                    f"{candidate.upper()} is one of the platform's own words (opt-out, START, HELP or the data "
                    "keyword): fans who text it get the platform's answer, so it cannot be a keyword."
                )
    taken = _taken_words(talent=talent, exclude_id=keyword_id)
    for name, candidates in (("word", [main]), ("aliases", extra)):
        for candidate in candidates:
            if candidate in taken:
                errors.setdefault(name, []).append(
                    f"{candidate.upper()} is already used by the keyword {taken[candidate]}."
                )
    if errors:
        raise ValidationError(errors)
    return [main, *dict.fromkeys(extra)]


def _taken_words(*, talent: Talent, exclude_id: int | None) -> dict[str, str]:
    taken: dict[str, str] = {}
    others = Keyword.objects.filter(talent=talent)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    for other in others:
        for word in other.words():
            taken[word] = str(other)
    return taken


# --- the index the rule processor asks once per batch ----------------------------------------------
def keyword_index(*, talent: Talent, now: dt.datetime | None = None) -> dict[str, int]:
    """{normalised word or alias: keyword id} of the talent's live keywords: not paused, within
    their dates, and not tied to a paused drop. One query."""
    now = now or timezone.now()
    live = (
        Keyword.objects.filter(talent=talent, is_paused=False)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .filter(Q(drop__isnull=True) | Q(drop__is_paused=False))
        .only("id", "word", "aliases")
    )
    index: dict[str, int] = {}
    for keyword in live:
        for word in keyword.words():
            index.setdefault(word, keyword.pk)
    return index


# --- running a keyword -----------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a keyword did for one fan (tests and the preview read it)."""

    replies: list[str] = field(default_factory=list)
    full: bool = False
    added_to_list: bool = False
    tagged: int = 0
    drop_status: str = ""


def _local_date(fan: Fan, now: dt.datetime) -> dt.date:
    try:
        return now.astimezone(fan.tz).date()
    except Exception:  # a zone name gone from the system's database: the talent's day
        return now.astimezone(fan.talent.tz).date()


def _once_today(keyword: Keyword, fan: Fan, now: dt.datetime) -> bool:
    """True the first time today (the fan's local day) this fan gets this keyword's reply: the
    unique (keyword, fan, local_date) row decides, so two texts processed at once send one."""
    values = {"keyword": keyword.pk, "fan": fan.pk, "local_date": _local_date(fan, now), "created_at": now}
    return sql.insert_new(KeywordReply, values, ["keyword", "fan", "local_date"]) is not None


def _take_place(keyword: Keyword, fan: Fan, now: dt.datetime) -> bool:
    """Within the capacity? A fan keeps the place they took; a new one takes one only while the
    counter is below the capacity (one conditional UPDATE, so two fans never take the last one).
    Without a capacity nothing is counted (no hot row for a burst to queue on)."""
    if keyword.capacity is None:
        return True
    values = {"keyword": keyword.pk, "fan": fan.pk, "created_at": now}
    if sql.insert_new(KeywordEntrant, values, ["keyword", "fan"]) is None:
        return True  # already in
    taken = Keyword.objects.filter(pk=keyword.pk, entrants_count__lt=keyword.capacity).update(
        entrants_count=F("entrants_count") + 1
    )
    if not taken:
        KeywordEntrant.objects.filter(keyword=keyword, fan=fan).delete()
    return bool(taken)


def keyword_run(*, keyword: Keyword, fan: Fan, now: dt.datetime | None = None, send: bool = True) -> Outcome:
    """Apply a keyword's actions for an active fan, in the caller's transaction.

    `send=False` (the "play as a fan" preview) computes the replies and changes nothing.
    """
    now = now or timezone.now()
    outcome, code = Outcome(), ""
    if fan.status != Fan.Status.ACTIVE or not keyword.is_live(now):
        return outcome  # an automation never acts for a fan who is not active; a paused one does nothing
    if not send:
        return _preview(keyword, fan, outcome)
    if not _take_place(keyword, fan, now):
        outcome.full = True
        if keyword.full_reply and _once_today(keyword, fan, now):
            outcome.replies.append(keyword.full_reply)
    else:
        if keyword.add_to_list_id:
            values = {"contact_list": keyword.add_to_list_id, "fan": fan.pk, "added_at": now}
            outcome.added_to_list = sql.insert_new(ContactListMember, values, ["contact_list", "fan"]) is not None
        tag_ids = [t.pk for t in keyword.tags.all()]  # prefetched by keyword_text
        if tag_ids:
            FanTag.objects.bulk_create([FanTag(tag_id=t, fan=fan) for t in tag_ids], ignore_conflicts=True)
            outcome.tagged = len(tag_ids)
        text = keyword.reply
        if keyword.drop is not None:
            joined = drops.drop_join(drop=keyword.drop, fan=fan, now=now)
            outcome.drop_status, text, code = joined.status, joined.text, joined.code
        if text and _once_today(keyword, fan, now):
            outcome.replies.append(text)
    for text in outcome.replies:
        replies.reply(fan=fan, body=text, code=code)  # the text keeps a reference to the code (codes.py)
    return outcome


def _preview(keyword: Keyword, fan: Fan, outcome: Outcome) -> Outcome:
    full = keyword.capacity is not None and (
        keyword.entrants_count >= keyword.capacity
        and not KeywordEntrant.objects.filter(keyword=keyword, fan=fan).exists()
    )
    if full:
        outcome.full = True
        outcome.replies = [keyword.full_reply] if keyword.full_reply else []
        return outcome
    text = keyword.reply
    if keyword.drop is not None:
        text = drops.drop_preview(drop=keyword.drop, fan=fan)
    outcome.replies = [text] if text else []
    return outcome


def _load(keyword_id: int, talent: Talent) -> Keyword | None:
    """The keyword with everything running it reads: its drop and the drop's release campaign
    (one query) and its tags (one more)."""
    return (
        Keyword.objects.select_related("drop", "drop__campaign")
        .prefetch_related("tags")
        .filter(pk=keyword_id, talent=talent)
        .first()
    )


def _count_use(keyword_id: int, uses: Counter | None) -> None:
    """Count a use now, or in `uses` for the caller to add in one UPDATE per keyword and batch
    (`keyword_uses_add`): a counter row every text of a burst updated would serialise them all."""
    if uses is None:
        Keyword.objects.filter(pk=keyword_id).update(uses_count=F("uses_count") + 1)
    else:
        uses[keyword_id] += 1


def keyword_uses_add(uses: Counter) -> None:
    """The end of a rule-processor chunk (inside its transaction): run the chunk's drop joins, then
    add the chunk's uses, one UPDATE per keyword."""
    batch = JoinBatch.pop(uses)
    if batch is not None:
        batch.run()
    for keyword_id, count in sorted(uses.items()):  # in id order: two batches never deadlock
        Keyword.objects.filter(pk=keyword_id).update(uses_count=F("uses_count") + count)
    uses.clear()


def keyword_text(
    *, talent: Talent, fan: Fan, keyword_id: int, now: dt.datetime | None = None, uses: Counter | None = None
) -> Outcome:
    """A fan (active) texted a keyword: count the use and run it. Called by the rule processor
    inside its savepoint, with the fan row locked.

    With the chunk's `uses` (the rule processor), a keyword that enters a drop is joined at the
    chunk's end, with the chunk's other joins (`JoinBatch`); the keyword is read once a chunk."""
    batch = JoinBatch.of(uses) if uses is not None else None
    keyword = batch.keyword(keyword_id, talent) if batch is not None else _load(keyword_id, talent)
    if keyword is None:
        return Outcome()
    _count_use(keyword.pk, uses)
    if batch is not None and keyword.drop_id is not None and keyword.capacity is None and keyword.is_live(now):
        batch.add(keyword, fan, now or timezone.now())
        return Outcome(drop_status="batched")
    return keyword_run(keyword=keyword, fan=fan, now=now)


class JoinBatch:
    """A rule-processor chunk's drop joins, run together at the chunk's end by `keyword_uses_add`
    (drop_joins.py: a few statements a chunk instead of ten a join).

    It is kept on the chunk's `uses` Counter, the one object the processor hands to every keyword
    call of a chunk and then to `keyword_uses_add` inside the chunk's transaction: it lives and
    dies with the chunk, so a chunk that fails (its transaction rolled back) leaves nothing behind.
    Keywords with their own capacity run one by one (KeywordEntrant's rule is per fan).
    """

    _ATTR = "_drop_join_batch"

    def __init__(self) -> None:
        self._keywords: dict[int, Keyword | None] = {}
        self._joins: dict[int, list[tuple[Fan, dt.datetime]]] = {}

    @classmethod
    def of(cls, uses: Counter) -> JoinBatch:
        batch = getattr(uses, cls._ATTR, None)
        if batch is None:
            batch = cls()
            setattr(uses, cls._ATTR, batch)
        return batch

    @classmethod
    def pop(cls, uses: Counter) -> JoinBatch | None:
        batch = getattr(uses, cls._ATTR, None)
        if batch is not None:
            delattr(uses, cls._ATTR)
        return batch

    def keyword(self, keyword_id: int, talent: Talent) -> Keyword | None:
        if keyword_id not in self._keywords:
            self._keywords[keyword_id] = _load(keyword_id, talent)
        found = self._keywords[keyword_id]
        return found if found is not None and found.talent_id == talent.pk else None

    def add(self, keyword: Keyword, fan: Fan, now: dt.datetime) -> None:
        self._joins.setdefault(keyword.pk, []).append((fan, now))

    def run(self) -> None:
        for keyword_id, joins in sorted(self._joins.items()):
            keyword = self._keywords[keyword_id]
            assert keyword is not None  # only loaded keywords are added
            try:
                with transaction.atomic():
                    keyword_run_many(keyword=keyword, fans=[f for f, _ in joins], now=joins[-1][1])
            except Exception:
                # One bad row must not hold the chunk back for ever (it would roll back and come
                # again): each join alone, as without a batch, each in its own savepoint.
                logger.exception("drop joins of keyword %s in bulk failed; joining one by one", keyword_id)
                for fan, now in joins:
                    try:
                        with transaction.atomic():
                            current = Fan.objects.select_related("talent").get(pk=fan.pk)  # its status now
                            keyword_run(keyword=_load(keyword_id, keyword.talent) or keyword, fan=current, now=now)
                    except Exception:
                        logger.exception("drop join of fan %s (keyword %s) failed", fan.pk, keyword_id)
        self._joins.clear()


def keyword_run_many(*, keyword: Keyword, fans: list[Fan], now: dt.datetime) -> int:
    """`keyword_run` for a chunk of fans of a keyword that enters a drop (no keyword capacity), in
    the caller's transaction: the list, the tags, the drop, then one reply per fan and local day.
    The drop and the keyword are read again (a pause in the chunk applies). Returns replies queued."""
    # The keyword, its drop and the release read again (a pause in the chunk applies); its tags as
    # the chunk read them (prefetched at its first text: an edit applies from the next chunk).
    fresh = Keyword.objects.select_related("drop", "drop__campaign", "talent").filter(pk=keyword.pk).first()
    if fresh is None or fresh.drop is None or not fresh.is_live(now):
        return 0
    by_id = {f.pk: f for f in fans}
    joined = drop_joins.drop_join_many(drop=fresh.drop, fans=fans, now=now)  # active fans only
    ids = list(joined)
    if fresh.add_to_list_id and ids:
        ContactListMember.objects.bulk_create(
            [ContactListMember(contact_list_id=fresh.add_to_list_id, fan_id=f, added_at=now) for f in ids],
            ignore_conflicts=True,
        )
    tag_ids = [t.pk for t in keyword.tags.all()]
    if tag_ids and ids:
        FanTag.objects.bulk_create([FanTag(tag_id=t, fan_id=f) for f in ids for t in tag_ids], ignore_conflicts=True)
    texted = [f for f in ids if joined[f].text]
    once = sql.insert_many_new(
        KeywordReply,
        ["keyword", "fan", "local_date", "created_at"],
        [(fresh.pk, f, _local_date(by_id[f], now), now) for f in texted],
        ["keyword", "fan", "local_date"],
        returning="fan",
    )
    return replies.reply_many(
        talent=fresh.talent,
        replies=[(f, joined[f].number, joined[f].text, joined[f].code) for f in texted if f in once],
    )


def keyword_remember(
    *, talent: Talent, fan: Fan, keyword_id: int, now: dt.datetime | None = None, uses: Counter | None = None
) -> bool:
    """A number that has not joined texted a keyword: keep it on the (pending) fan, so it runs once
    the fan joins. The latest keyword wins. The caller sends the signup link."""
    keyword = Keyword.objects.filter(pk=keyword_id, talent=talent).first()
    if keyword is None:
        return False
    now = now or timezone.now()
    _count_use(keyword.pk, uses)
    FanKeyword.objects.update_or_create(
        fan=fan, defaults={"keyword": keyword, "word": keyword.word, "remembered_at": now, "joined_at": None}
    )
    return True


def keywords_on_join(*, fan: Fan, now: dt.datetime | None = None) -> Outcome | None:
    """The fan just joined: run the keyword it texted before, once (the row's joined_at is set by
    a conditional UPDATE, so a second join event runs nothing), and count a new join."""
    now = now or timezone.now()
    remembered = FanKeyword.objects.filter(fan=fan, joined_at__isnull=True).select_related("keyword").first()
    if remembered is None or remembered.keyword_id is None:
        return None
    if not FanKeyword.objects.filter(pk=remembered.pk, joined_at__isnull=True).update(joined_at=now):
        return None
    keyword = _load(remembered.keyword_id, fan.talent)  # with its drop, campaign and tags
    if keyword is None:
        return None
    Keyword.objects.filter(pk=keyword.pk).update(joins_count=F("joins_count") + 1)
    return keyword_run(keyword=keyword, fan=fan, now=now)


# --- the console: share, preview, test --------------------------------------------------------------
def share_link(keyword: Keyword) -> str:
    """An sms: link that opens the fan's messages app with the keyword typed to the talent's number
    ("?&body=" is the form both iOS and Android read). Empty when the talent has no number."""
    number = str(keyword.talent.sender_number or "")
    if not number:
        return ""
    return f"sms:{number}?&body={quote(keyword.word.upper())}"


def qr_svg(text: str) -> str:
    """The QR code of `text` as an inline <svg> element, made on the server (no script, no CDN)."""
    import segno

    return segno.make(text, error="m").svg_inline(scale=4, border=2, dark="#111827", light="#ffffff")


@dataclass
class Play:
    """What a fan would get for texting the keyword (nothing is sent or stored)."""

    as_member: list[str]
    as_stranger: list[str]
    note: str = ""


def keyword_play(*, keyword: Keyword) -> Play:
    """The "play as a fan" preview: an active fan's replies and a stranger's (the signup link),
    computed without writing or sending anything."""
    from consent import texts

    sample = Fan(talent=keyword.talent, status=Fan.Status.ACTIVE, first_name="Alex")
    member = _preview(keyword, sample, Outcome()).replies
    note = ""
    if not keyword.is_live():
        note = "This keyword is paused or outside its dates: right now fans who text it reach the inbox."
    stranger = [texts.join_link(keyword.talent, "<signup link>")]
    return Play(as_member=member if not note else [], as_stranger=stranger, note=note)


def keyword_send_to_me(*, keyword: Keyword, to_number: str, actor) -> str:
    """Send the keyword's reply, marked [TEST], to the team member's own phone on the priority lane.
    Raises ValidationError when no number is known or it does not parse."""
    from accounts import phones

    e164 = phones.normalise(to_number or "")
    if not e164:
        raise ValidationError("We do not know your phone number: type it (as +14155550123) and press Send to me again.")
    texts = keyword_play(keyword=keyword).as_member or [keyword.reply]
    body = "[TEST] " + (texts[0] or f"{keyword} has no reply text yet.")
    replies.reply_to_number(talent=keyword.talent, to=e164, body=body)
    audit("automation.keyword_test_sent", talent=keyword.talent, actor=actor, obj=keyword)
    return e164
