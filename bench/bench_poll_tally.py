"""Listening at scale (issue 13 §5): 100,000 replies to one campaign, in-process on PostgreSQL.
Target: the poll's tally and the free-text themes under 1 s (each, and together).

Data (generated once, reused by re-runs): BENCH_POLL_REPLIES fans (default 100,000) of the talent
"bench-poll", each sent the campaign's text an hour ago and each replying once: 60 % with a vote
("1", "2", "3" or a keyword; stored as the rule processor stores them: a Vote per fan, the reply
opening no conversation) and 40 % with free text drawn from a small vocabulary (a conversation and
an episode opened by the campaign, as `on_real_reply` does). Figures are the best of three:
`poll_tally` (one GROUP BY over the poll's votes); the themes as the campaign folder gets them
(`themes_for_page`: the snapshot and its sample texts); the recount the task runs off the page
(`themes_refresh`: words counted in the database, three sample replies per theme); tally and
page themes together; and a floor: a bare count of the campaign's free-text replies (what any
look at those 40,000 rows costs on this machine).

    DATABASE_URL=postgres://... python -m bench.bench_poll_tally
"""

from __future__ import annotations

import datetime as dt
import os

from bench.bench_inbox import WORDS as INBOX_WORDS
from bench.common import best_of, emit, ensure_fans, ensure_talent, setup_django

BENCH = "poll_tally"
SLUG = "bench-poll"
REPLIES = int(os.environ.get("BENCH_POLL_REPLIES", "100000"))
TARGET = 1.0
# The inbox benchmark's vocabulary without its greetings and fillers (the same words, same order).
WORDS = [w for w in INBOX_WORDS if w not in {"please", "hello", "hey", "omg"}]
VOTES = ["1", "2", "3", "paris", "berlin"]  # keys and keywords: a reply equal to one is a vote


def _generate(talent, count: int):
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Fan
    from messaging.models import Campaign, Conversation, Episode, InboundMessage, OutboundMessage, Poll, Vote

    campaign = Campaign.objects.filter(talent=talent, name="Bench poll").first()
    if campaign is not None and InboundMessage.objects.filter(talent=talent).count() >= count:
        return campaign
    InboundMessage.objects.filter(talent=talent).delete()
    Conversation.objects.filter(talent=talent).delete()
    Campaign.objects.filter(talent=talent).delete()
    campaign = Campaign.objects.create(
        talent=talent, name="Bench poll", body="Where should we play next? 1 Paris 2 Berlin 3 Rome", status="completed"
    )
    poll = Poll.objects.create(
        campaign=campaign,
        question="Where next?",
        options=[
            {"key": "1", "label": "Paris", "keywords": ["paris"]},
            {"key": "2", "label": "Berlin", "keywords": ["berlin"]},
            {"key": "3", "label": "Rome", "keywords": []},
        ],
    )
    sent_at = timezone.now() - dt.timedelta(hours=1)
    fans = list(Fan.objects.filter(talent=talent).order_by("pk").values_list("pk", "phone")[:count])
    step = 5000
    for start in range(0, len(fans), step):
        chunk = fans[start : start + step]
        OutboundMessage.objects.bulk_create(
            [
                OutboundMessage(
                    talent=talent,
                    fan_id=pk,
                    campaign=campaign,
                    to_number=str(phone),
                    body="Where should we play next?",
                    status="delivered",
                )
                for pk, phone in chunk
            ]
        )
        inbound, votes, conversations = [], [], []
        for n, (pk, phone) in enumerate(chunk, start=start):
            is_vote = n % 10 < 6
            body = (
                VOTES[n % len(VOTES)]
                if is_vote
                else " ".join(WORDS[(n * k) % len(WORDS)] for k in (31, 17, 13)) + ("!" if n % 3 else "?")
            )
            at = sent_at + dt.timedelta(seconds=1 + n % 3000)
            inbound.append(
                InboundMessage(
                    talent=talent,
                    fan_id=pk,
                    message_sid=f"SMbenchpoll{n:010d}",
                    from_number=str(phone),
                    to_number=str(talent.sender_number),
                    body=body,
                    payload={},
                    received_at=at,
                    processed_at=at,
                    action="inbox",
                )
            )
            if is_vote:
                option = {"paris": "1", "berlin": "2"}.get(body, body)
                votes.append(Vote(poll=poll, fan_id=pk, option=option, voted_at=at))
            else:
                conversations.append(
                    Conversation(
                        talent=talent, fan_id=pk, status="open", waiting_since=at, last_message_at=at, campaign=campaign
                    )
                )
        InboundMessage.objects.bulk_create(inbound)
        Vote.objects.bulk_create(votes)
        made = Conversation.objects.bulk_create(conversations)
        Episode.objects.bulk_create(
            [
                Episode(talent=talent, conversation=c, campaign=campaign, opened_at=c.waiting_since)
                for c in made
                if c.waiting_since
            ]
        )
    OutboundMessage.objects.filter(campaign=campaign).update(created_at=sent_at)
    with connection.cursor() as cursor:
        for table in ("messaging_inboundmessage", "messaging_vote", "messaging_episode", "messaging_outboundmessage"):
            cursor.execute(f"VACUUM ANALYZE {table}")  # noqa: S608 - constant names
    return campaign


def main() -> None:
    setup_django()
    from messaging.conversations.polls import poll_tally
    from messaging.conversations.themes import campaign_replies, themes_for_page, themes_refresh

    talent = ensure_talent(SLUG)
    ensure_fans(SLUG, REPLIES)
    campaign = _generate(talent, REPLIES)
    poll = campaign.poll
    replies = campaign_replies(campaign)

    floor, counted = best_of(lambda: replies.count())
    tally_s, tally = best_of(lambda: poll_tally(poll))
    recount_s, _ = best_of(lambda: themes_refresh(campaign.pk))
    themes_s, view = best_of(lambda: themes_for_page(campaign, limit=12))
    themes = view.themes
    both_s, _ = best_of(lambda: (poll_tally(poll), themes_for_page(campaign, limit=12)))
    votes = sum(r["votes"] for r in tally)
    target = f"< {TARGET:g} s"
    emit(BENCH, "tally of the poll", tally_s, "s", target=target, ok=tally_s < TARGET, votes=votes)
    emit(
        BENCH,
        "themes recount (the task, off the page)",
        recount_s,
        "s",
        target="reference (queued at most once a minute per campaign)",
        free_text_replies=counted,
    )
    emit(
        BENCH,
        "themes of the free-text replies",
        themes_s,
        "s",
        target=target,
        ok=themes_s < TARGET,
        free_text_replies=counted,
        themes=len(themes),
        top=themes[0].word if themes else "",
        read="the snapshot (themes_for_page)",
        samples=sum(len(t.samples) for t in themes),
    )
    emit(BENCH, "tally and themes together", both_s, "s", target=target, ok=both_s < TARGET, replies=REPLIES)
    emit(BENCH, "floor: count the campaign's free-text replies", floor, "s", replies=counted)


if __name__ == "__main__":
    main()
