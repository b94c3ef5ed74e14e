"""Inbound texts: store them once, apply the keyword rules (STOP/START/HELP, data keyword,
text-to-join, the inbox).

Two doors, one set of rules (`_apply_rules`):
- `inbound_receive`: store and apply in one transaction. The webhook takes it for opt-outs, so a
  STOP is committed (fan opted out, consent record written, confirmation queued) before Twilio gets
  its answer, and the campaign claim and in-flight re-checks see it at once.
- `inbound_store`: store only (one INSERT ... ON CONFLICT DO NOTHING on MessageSid). The webhook
  takes it for every other text, so a celebrity burst costs a few milliseconds a text; the rule
  processor (`inbound_process_batch`, run by the priority lane task) applies the rules in batches.
Every send goes to the priority lane after commit.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import outbox, phones
from accounts.models import Fan, Talent
from accounts.services import fan_get_or_create_pending, fans_create_pending
from accounts.tokens import DATA_LINK, JOIN_LINK
from consent import texts
from consent.keywords import Classification, Rule, classify, state_of
from consent.models import ConsentRecord
from consent.services import Evidence, fan_hold, fan_join_requested, fan_opt_in, fan_opt_out
from messaging.automations import keywords as automation_keywords
from messaging.conversations import services as conversations
from messaging.conversations.lane_links import _join_link, _JoinLinkText, insert_links
from messaging.conversations.priority import (
    guard_links,
    priority_lane_kick,
    priority_message_queue,
    suppress_pending_for,
)
from messaging.conversations.store import STORE
from messaging.sending.models import Sender
from messaging.sms.models import InboundMessage, OutboundMessage

logger = logging.getLogger(__name__)

Action = InboundMessage.Action
Lane = OutboundMessage.Lane
_PROCESSOR_LOCK = 7_301_001  # pg advisory lock key of the rule processor
# What the team sees in the inbox: replies, and possible opt-outs held for them to decide.
_FOR_THE_TEAM = frozenset({Action.INBOX, Action.POSSIBLE_OPT_OUT})
_MEMBERS = frozenset({Fan.Status.ACTIVE, Fan.Status.HELD})


def classify_text(
    *, talent: Talent, body: str, fan: Fan | None, keywords: KeywordIndexes | None = None
) -> Classification:
    """The one order of rules (consent/keywords.py) for a text from `fan` (None: no row).

    Talent keywords (rule 6) are asked for only when rules 1-5 found nothing, so a STOP or HELP
    never costs the keyword lookup; `keywords` caches each talent's live keywords for one batch.
    """
    state = state_of(status=fan.status if fan else None, joined=bool(fan and fan.joined_at))
    result = classify(body, state, data_keyword=talent.data_keyword)
    if result.rule is not Rule.OTHER or result.asked_to_join:
        return result
    index = (keywords or KeywordIndexes()).of(talent)
    if not index:
        return result
    return classify(body, state, data_keyword=talent.data_keyword, talent_keywords=index.keys())


class KeywordIndexes:
    """Each talent's live keywords ({word: keyword id}), read once per batch of texts: a burst of
    thousands costs one query per talent and chunk, and a keyword edited mid-burst applies from
    the next chunk."""

    def __init__(self) -> None:
        self._by_talent: dict[int, dict[str, int]] = {}
        self.uses: Counter = Counter()  # keyword uses of the chunk, added in one UPDATE each at its end

    def of(self, talent: Talent) -> dict[str, int]:
        found = self._by_talent.get(talent.pk)
        if found is None:
            found = self._by_talent[talent.pk] = automation_keywords.keyword_index(talent=talent)
        return found


def talent_for(*, to: str, messaging_service_sid: str) -> Talent | None:
    """The talent a text was sent to: by its number, else by its Messaging Service; each first the
    talent's own, then the other senders of its pool (issue 17: a fan answers the number that texted
    them). A number or service belongs to one talent (unique constraints)."""
    to = phones.normalise(to)
    if to:
        talent = Talent.objects.filter(sender_number=to).first()
        if talent is None:
            talent = Talent.objects.filter(senders__phone_number=to).first()
        if talent is not None:
            return talent
    if messaging_service_sid:
        matches = list(Talent.objects.filter(messaging_service_sid=messaging_service_sid, is_active=True)[:2])
        if not matches:
            matches = list(
                Talent.objects.filter(senders__messaging_service_sid=messaging_service_sid, is_active=True).distinct()[
                    :2
                ]
            )
        # A Messaging Service belongs to one talent (a unique constraint since issue 15); should a
        # database still hold two, refuse rather than apply a STOP to the wrong talent.
        return matches[0] if len(matches) == 1 else None
    return None


@dataclass
class InboundResult:
    message: InboundMessage | None  # None when this MessageSid was already stored
    action: str = ""


def inbound_receive(*, talent: Talent, sid: str, from_number: str, body: str, payload: dict) -> InboundResult:
    """Store one inbound text idempotently and apply the keyword rules, in one transaction."""
    try:
        with transaction.atomic():
            message = _new_message(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)
            message.save(force_insert=True)
            indexes = KeywordIndexes()
            action = _apply_rules(talent=talent, message=message, keywords=indexes)
            automation_keywords.keyword_uses_add(indexes.uses)
            message.action = action
            message.processed_at = timezone.now()
            message.needs_reply = action in _FOR_THE_TEAM
            message.save(update_fields=["fan", "action", "processed_at", "needs_reply"])
            if message.needs_reply:
                _emit_received([message])
    except IntegrityError:
        # The same MessageSid committed by a concurrent delivery of this webhook: nothing to do.
        if InboundMessage.objects.filter(message_sid=sid).exists():
            return InboundResult(message=None)
        raise
    return InboundResult(message=message, action=action)


def _new_message(*, talent: Talent, sid: str, from_number: str, body: str, payload: dict) -> InboundMessage:
    to = str(payload.get("To", ""))[:20]
    return InboundMessage(
        talent=talent, message_sid=sid, from_number=from_number, to_number=to, body=body, payload=payload
    )


def inbound_store(*, talent: Talent, sid: str, from_number: str, body: str, payload: dict) -> None:
    """Store one text for the rule processor: idempotent on MessageSid.

    On PostgreSQL an INSERT ... ON CONFLICT DO NOTHING in autocommit, shared by the texts this
    process stores at the same moment (messaging/conversations/store.py), committed (durably) before
    the webhook answers, without the ORM's per-object work or a BEGIN/COMMIT pair. This is the hot
    path of a celebrity burst (bench/bench_celebrity.py).
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # Group commit with the other threads of this process storing at the same moment (store.py).
        STORE.store([talent.pk, sid, from_number, str(payload.get("To", ""))[:20], body, json.dumps(payload)])
    else:
        InboundMessage.objects.bulk_create(
            [_new_message(talent=talent, sid=sid, from_number=from_number, body=body, payload=payload)],
            ignore_conflicts=True,  # Twilio's retry of a text already stored: nothing to do
        )
    transaction.on_commit(lambda: priority_lane_kick(sends=False))


def inbound_process_batch(*, limit: int | None = None) -> int:
    """Apply the rules to the oldest stored, unprocessed texts. Returns how many it processed.

    Up to `limit` texts, committed every 100: a chunk's fan rows are locked only
    for that long, so a STOP arriving at the webhook for one of those fans waits milliseconds, not a
    whole batch. Each text in a savepoint: one that fails is marked and logged, never blocks the
    queue. On PostgreSQL one processor runs at a time (an advisory lock): texts from one number are
    applied in the order they came, and two processors never lock the same fans in opposite orders.
    """
    limit = limit or settings.INBOUND_RULES_BATCH
    done = 0
    while done < limit:
        n = _process_chunk(min(_CHUNK, limit - done))
        done += n
        if n < _CHUNK:
            break
    return done


_CHUNK = 100


def _process_chunk(size: int) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_PROCESSOR_LOCK])
                if not cursor.fetchone()[0]:
                    return 0
        messages = list(
            InboundMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(processed_at__isnull=True)
            .order_by("id")[:size]
        )
        _attach_talents(messages)
        indexes = KeywordIndexes()
        one_by_one = _apply_in_bulk(messages, indexes)
        for message in one_by_one:
            try:
                with transaction.atomic():
                    action = _apply_rules(talent=message.talent, message=message, keywords=indexes)
            except Exception:
                logger.exception("inbound rules failed for message %s; marked ignored", message.pk)
                action = Action.IGNORED
            _mark(message, action)
            # Saved at once: the next text from this number must see this one's join link.
            message.save(update_fields=_MARKED)
        automation_keywords.keyword_uses_add(indexes.uses)
        slow = {m.pk for m in one_by_one}
        done_in_bulk = [m for m in messages if m.pk not in slow]
        _save_marks(done_in_bulk)
        _emit_received([m for m in messages if m.action == Action.INBOX])
    return len(messages)


def _attach_talents(messages: list[InboundMessage]) -> None:
    """One Talent object per talent for the chunk (select_related built one a row, and parsed and
    validated its sender number for each: a tenth of the rule cost in a burst)."""
    talents = Talent.objects.in_bulk({m.talent_id for m in messages})
    for m in messages:
        m.talent = talents[m.talent_id]


def _emit_received(messages: list[InboundMessage]) -> None:
    """Outgoing webhooks (issue 16): one message.received per text that reached the inbox, in the
    chunk's transaction. Keywords never reach here."""
    for m in messages:
        data = {"id": m.pk, "fan_id": m.fan_id, "received_at": outbox.iso(m.received_at), "body": m.body}
        outbox.webhook_emit(talent_id=m.talent_id, type="message.received", data={"message": data}, fan_id=m.fan_id)


_MARKED = ["fan", "action", "processed_at", "needs_reply"]


def _save_marks(messages: list[InboundMessage]) -> None:
    """One UPDATE ... FROM (VALUES ...) for a chunk's decisions (bulk_update's CASE per row and
    column costs ~80 ms a hundred rows)."""
    if not messages:
        return
    table = InboundMessage._meta.db_table
    pg = connection.vendor == "postgresql"
    cell = (
        "(CAST(%s AS bigint), CAST(%s AS bigint), CAST(%s AS text), CAST(%s AS boolean))" if pg else "(%s, %s, %s, %s)"
    )
    params: list = []
    for m in messages:
        params += [m.pk, m.fan_id, m.action, m.needs_reply]
    sql = (
        f"UPDATE {table} SET fan_id = v.column2, action = v.column3, needs_reply = v.column4, "  # noqa: S608
        f"processed_at = %s FROM (VALUES {', '.join([cell] * len(messages))}) AS v "
        f"WHERE {table}.id = v.column1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.now(), *params])


def _mark(message: InboundMessage, action: str) -> None:
    message.action = action
    message.processed_at = timezone.now()
    message.needs_reply = action in _FOR_THE_TEAM


def _apply_in_bulk(messages: list[InboundMessage], keywords: KeywordIndexes) -> list[InboundMessage]:
    """The burst's common case in a few statements per chunk: texts that are no keyword, from
    strangers (a pending fan and one join link per number), members (the inbox) or opted-out
    numbers (nothing). Returns the texts left for `_apply_rules` one by one: keywords, odd senders,
    and every text of a number that sent a keyword in this chunk (so one number's texts keep their
    order). Same rules as `_apply_rules`; no fan row lock is needed because one processor runs at a
    time, and a STOP that lands meanwhile is caught at the lane's claim (priority.py)."""
    by_talent: dict[int, list[InboundMessage]] = defaultdict(list)
    for message in messages:
        by_talent[message.talent_id].append(message)
    rest: list[InboundMessage] = []
    for group in by_talent.values():
        talent = group[0].talent
        texters = {m.from_number for m in group if phones.is_possible_e164(m.from_number)}
        texters -= our_numbers(texters)  # left for _apply_rules, which ignores them
        fans = {phones.phone_text(f.phone): f for f in fans_of(talent, texters)}
        keyworded = set()
        for m in group:
            if m.from_number not in texters:
                keyworded.add(m.from_number)
                continue
            result = classify_text(talent=talent, body=m.body, fan=fans.get(m.from_number), keywords=keywords)
            if result.rule is not Rule.OTHER or result.asked_to_join:
                keyworded.add(m.from_number)
        plain = [m for m in group if m.from_number not in keyworded]
        rest += [m for m in group if m.from_number in keyworded]
        if not plain:
            continue
        strangers = {m.from_number for m in plain if m.from_number not in fans}
        fans.update(fans_create_pending(talent=talent, phones=strangers))  # looked up just above
        linked = linked_fans([f.pk for f in fans.values() if f.status == Fan.Status.PENDING])
        links: list[OutboundMessage] = []
        replied: list[int] = []
        link_text = _JoinLinkText(talent)
        for m in plain:
            fan = fans[m.from_number]
            m.fan = fan
            if fan.status in _MEMBERS:
                replied.append(fan.pk)
                _mark(m, Action.INBOX)
            elif fan.status != Fan.Status.PENDING:
                _mark(m, Action.IGNORED)  # opted out: after STOP only START reopens (Twilio blocks with 21610)
            elif fan.pk in linked:
                _mark(m, Action.JOIN_LINK_SKIPPED)
            else:
                linked.add(fan.pk)
                links.append(_join_link(talent, fan, link_text))
                _mark(m, Action.JOIN_LINK)
        if replied:
            Fan.objects.filter(pk__in=replied).update(last_reply_at=timezone.now())
            conversations.on_real_replies([m for m in plain if m.action == Action.INBOX])
        if links:
            guard_links(talent=talent, messages=links)  # SMS pumping: served countries, hourly caps
            insert_links(links)
            transaction.on_commit(lambda: priority_lane_kick(rules=False))
    return rest


def fans_of(talent: Talent, numbers: set[str]) -> list[Fan]:
    """The talent's fans with these numbers (E.164 text). On PostgreSQL each number is looked up
    by the (talent, phone) index, as `linked_fans` does and for the same reason: on a table never
    analysed (a burst right after the install) `phone IN (...)` was planned through the talent's
    index and read every fan of the talent for each chunk, 2.7 ms a chunk at 20,000 fans and
    growing with the burst, where the probes take a tenth of it (EXPLAIN, twelfth session)."""
    if connection.vendor != "postgresql":
        return list(Fan.objects.filter(talent=talent, phone__in=[phones.known_number(p) for p in numbers]))
    # The rows themselves from the probes, not `pk IN (probes)`: that left PostgreSQL a semi-join
    # to plan, and with the fan table analysed while a burst's fans were not yet committed (0 rows
    # in its statistics) it ran the probes once per fan of the table: a 5,000-number chunk loop
    # ran for minutes (seen in the test suite, thirteenth session).
    return list(
        Fan.objects.raw(
            "SELECT f.* FROM unnest(%s::text[]) AS n(phone) CROSS JOIN LATERAL "
            f"(SELECT * FROM {Fan._meta.db_table} WHERE talent_id = %s AND phone = n.phone LIMIT 1) AS f",  # noqa: S608
            [sorted(numbers), talent.pk],
        )
    )


def linked_fans(fan_ids: list[int]) -> set[int]:
    """Which of these fans had a signup link answered to a text within the link's lifetime.

    On PostgreSQL one lookup per fan (a LATERAL subquery with LIMIT 1, which the planner cannot
    turn into a join), each by the fans' index (fan, received_at): any plan over the whole
    table grows with the burst. Two such plans were seen in the celebrity bench: with the age
    in a plain `WHERE`, the received_at index (a burst's texts are newer than its statistics, so
    PostgreSQL expects none) read every text of the burst for each chunk, ~13 ms a chunk at
    16,000 texts; with the age checked in Python, a table never analysed (a burst right after the
    install, or faster than autovacuum's minute) gave a sequential scan, 4.6 ms a chunk of 100
    at 20,000 texts (bench EXPLAIN, twelfth session) against 0.25 ms this way. A fan's
    join-link texts are few (one a lifetime, however often it texts)."""
    if not fan_ids:
        return set()
    since = timezone.now() - dt.timedelta(seconds=settings.JOIN_LINK_MAX_AGE)
    if connection.vendor == "postgresql":
        sql = (
            "SELECT f.id FROM unnest(%s::bigint[]) AS f(id) CROSS JOIN LATERAL "
            f"(SELECT 1 FROM {InboundMessage._meta.db_table} m WHERE m.fan_id = f.id "  # noqa: S608 - table name
            "AND m.action = %s AND m.received_at >= %s LIMIT 1) AS linked"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [fan_ids, str(Action.JOIN_LINK), since])
            return {fan_id for (fan_id,) in cursor.fetchall()}
    rows = (
        InboundMessage.objects.filter(fan_id__in=fan_ids, action=Action.JOIN_LINK)
        .order_by()  # no sort by the model's ordering: a set is wanted
        .values_list("fan_id", "received_at")
    )
    return {fan_id for fan_id, received_at in rows if received_at >= since}


def inbound_backlog(*, talent: Talent | None = None) -> dict:
    """Stored texts the rule processor has not reached yet: how many, and the oldest one's age (s)."""
    pending = InboundMessage.objects.filter(processed_at__isnull=True)
    if talent is not None:
        pending = pending.filter(talent=talent)
    oldest = pending.order_by("id").values_list("received_at", flat=True).first()
    if oldest is None:
        return {"count": 0, "oldest_seconds": 0}
    return {"count": pending.count(), "oldest_seconds": max(0, round((timezone.now() - oldest).total_seconds()))}


def our_numbers(numbers: set[str]) -> set[str]:
    """Which of these E.164 numbers send for a talent here: any talent's own number or a number
    of any sender pool (issue 17). A text from one is a loop or a spoof, never a fan: answering
    it would text ourselves a join link and make a pending fan of our own sender. One statement
    for a chunk's numbers over two indexes (the unique sender_number and the sender-number index):
    a STOP asks it inside the webhook's request, where two ORM queries were a tenth of its CPU."""
    if not numbers:
        return set()
    sql, params = our_numbers_sql(numbers)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = {row[0] for row in cursor.fetchall()}
    return found & numbers


def our_numbers_sql(numbers: set[str]) -> tuple[str, list]:
    """The statement our_numbers runs (one column: the numbers found). The webhook's STOP folds it
    into its first statement (messaging/conversations/stop.py)."""
    wanted = sorted(numbers)
    marks = ", ".join(["%s"] * len(wanted))
    sql = (
        f"SELECT phone_number FROM {Sender._meta.db_table} WHERE phone_number IN ({marks}) "  # noqa: S608 - table names
        f"UNION SELECT sender_number FROM {Talent._meta.db_table} WHERE sender_number IN ({marks})"
    )
    return sql, wanted + wanted


def _reply(talent: Talent, fan: Fan | None, to: str, body: str, lane: int = Lane.COMPLIANCE) -> None:
    priority_message_queue(talent=talent, fan=fan, to=to, body=body, lane=lane)


def _apply_rules(*, talent: Talent, message: InboundMessage, keywords: KeywordIndexes) -> str:
    phone = message.from_number
    if not phones.is_possible_e164(phone):
        # A short code or alphanumeric sender (carrier notices, spam): keep the text, answer nothing.
        return Action.IGNORED
    if phone in our_numbers({phone}):
        return Action.IGNORED  # one of our own senders (a loop or a spoof): never answer ourselves
    # The number parsed once per process (the field's lookup would parse and validate it again).
    fan = Fan.objects.select_for_update().filter(talent=talent, phone=phones.known_number(phone)).first()
    if fan is not None:
        fan.talent = talent  # the audit and the outbox read it: no query for it
    message.fan = fan
    evidence = Evidence(method=ConsentRecord.Method.SMS_KEYWORD, evidence=message.message_sid)
    result = classify_text(talent=talent, body=message.body, fan=fan, keywords=keywords)
    rule = result.rule

    if rule is Rule.OPT_OUT:
        locked = fan is not None  # read under its row lock above, in this transaction
        if fan is None:
            # Record the wish even from a stranger, so an import or signup cannot text them first.
            fan, _ = fan_get_or_create_pending(talent=talent, phone=phone)
            message.fan = fan
        changed = fan_opt_out(fan=fan, evidence=evidence, locked=locked)
        suppress_pending_for(fan=fan)  # a join link or reply still waiting never follows the STOP
        if changed:
            # The one confirmation (a second STOP gets none: Twilio would refuse it, 21610), in
            # the language of the wording; compliance lane, so it leaves within seconds.
            _reply(talent, fan, phone, texts.opt_out_confirmation(talent, result.language))
        return Action.OPT_OUT

    if rule is Rule.OPT_IN and fan is not None:
        if fan.opted_out_at and message.received_at and fan.opted_out_at > message.received_at:
            # A STOP that came after this START was applied first (opt-outs never wait for the
            # rule processor): the later wish wins.
            return Action.IGNORED
        fan_opt_in(fan=fan, evidence=evidence)  # an already active fan just gets the confirmation
        _reply(talent, fan, phone, texts.opt_in_confirmation(talent))
        return Action.OPT_IN

    if rule is Rule.HELP:
        _reply(talent, fan, phone, texts.help_reply(talent, result.language))
        return Action.HELP

    if rule is Rule.MY_DATA and fan is not None:
        _reply(talent, fan, phone, texts.data_link(talent, DATA_LINK))  # the link is made as it leaves
        return Action.MY_DATA

    if rule is Rule.POSSIBLE_OPT_OUT:
        # Held from campaigns and shown to the team to decide; no automation, no reply. From a
        # number that is not a member there is nothing to hold: it just gets no signup link.
        if fan is not None and fan.status in _MEMBERS:
            fan_hold(fan=fan, evidence=evidence)
            Fan.objects.filter(pk=fan.pk).update(last_reply_at=timezone.now())
            return Action.POSSIBLE_OPT_OUT
        return Action.IGNORED

    keyword_id = keywords.of(talent).get(result.keyword) if rule is Rule.TALENT_KEYWORD else None
    if keyword_id is not None and fan is not None and fan.status == Fan.Status.ACTIVE:
        # Rule 6 for a member: the keyword's actions; its reply leaves at once on the priority lane.
        Fan.objects.filter(pk=fan.pk).update(last_reply_at=timezone.now())
        automation_keywords.keyword_text(talent=talent, fan=fan, keyword_id=keyword_id, uses=keywords.uses)
        return Action.KEYWORD

    if fan is not None and fan.status in _MEMBERS:
        # A held fan (possible opt-out) runs no automation: a keyword from them reaches the team.
        Fan.objects.filter(pk=fan.pk).update(last_reply_at=timezone.now())
        conversations.on_real_reply(message)
        return Action.INBOX

    if fan is not None and fan.status == Fan.Status.OPTED_OUT and not result.asked_to_join:
        # After STOP only the confirmation may be sent (carriers and Twilio block the rest,
        # error 21610) until the number texts START: then a fan who had joined is back (above),
        # and a number that never joined gets the signup link (below), never an active row.
        return Action.IGNORED
    if fan is not None and result.asked_to_join:
        if fan.opted_out_at and message.received_at and fan.opted_out_at > message.received_at:
            return Action.IGNORED  # a later STOP was applied first: the later wish wins
        fan_join_requested(fan=fan, evidence=evidence)

    # Not a member yet: one signup link per link lifetime, however many texts arrive.
    if fan is None:
        fan, _ = fan_get_or_create_pending(talent=talent, phone=phone)
        fan = Fan.objects.select_for_update().get(pk=fan.pk)  # serialise concurrent texts from one number
        message.fan = fan
    if keyword_id is not None:
        # A keyword from a number that has not joined: remembered on the fan, run once it joins
        # (messaging/automations/joins.py); the answer now is the signup link, at most one per lifetime.
        automation_keywords.keyword_remember(talent=talent, fan=fan, keyword_id=keyword_id, uses=keywords.uses)
    if linked_fans([fan.pk]):
        return Action.JOIN_LINK_SKIPPED
    _reply(talent, fan, phone, texts.join_link(talent, JOIN_LINK), lane=Lane.LINK)  # made as it leaves
    return Action.JOIN_LINK
