"""How long a blast takes with the talent's senders (issue 17), for the composer: "about 1 h 20 min
at 75/s on 3 senders; 40,000 over today's T-Mobile cap go tomorrow".

The same rules as the engine (senders.py): fans split evenly over the senders (fan id modulo the
senders), 10DLC lanes per carrier by the audience's known carriers (unknown ones on the slowest
lane), every lane at its rate in parallel, so the blast lasts as long as its busiest lane; what a
daily cap cannot take today goes after midnight Pacific. Priority texts (replies, confirmations)
book the talent's own number first and may make it a little longer; they are not counted here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count

from messaging.campaigns import scheduling
from messaging.sending.models import FanCarrier, Sender, SenderDailyCount
from messaging.sending.senders import (
    ALL,
    CARRIER_NAMES,
    Pool,
    build_pool,
    carrier_of,
    held_back_reason,
    next_pacific_midnight,
    pacific_day,
    sender_caps,
)


@dataclass(frozen=True)
class BlastPlan:
    seconds: float  # sending time of what goes today
    parts_per_second: float  # the pool's average pace over that time
    senders: int
    held_by_cap: dict[str, int]  # texts over today's caps, by cap name ("T-Mobile", "daily")
    ends_at: dt.datetime | None = None

    @property
    def held(self) -> int:
        return sum(self.held_by_cap.values())

    def summary(self) -> str:
        if self.seconds <= 0 and not self.held:
            return "Nothing to send."
        senders = f"{self.senders} sender{'s' if self.senders != 1 else ''}"
        text = f"About {duration_text(self.seconds)} at {self.parts_per_second:,.0f}/s on {senders}"
        for cap, texts in self.held_by_cap.items():
            text += f"; {texts:,} over today's {cap} cap go tomorrow"
        return text + "."


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def plan_blast(
    pool: Pool, *, texts: int, parts_per_text: int, carriers: dict[str, int], cap_used: dict[str, int]
) -> BlastPlan:
    """The plan of `texts` texts of `parts_per_text` SMS parts (pure). `carriers`: the audience's
    fans by carrier as FanCarrier stores it (missing = unknown); `cap_used`: parts already booked
    today under each daily cap."""
    parts_per_text = max(1, parts_per_text)
    if not pool.lanes:
        return BlastPlan(0.0, 0.0, 0, {})  # no sender may send (10DLC registration): plan_warnings says so
    known = {carrier_of(c): 0 for c in carriers}
    for carrier, n in carriers.items():
        known[carrier_of(carrier)] = known.get(carrier_of(carrier), 0) + n
    known["other"] = known.get("other", 0) + max(0, texts - sum(carriers.values()))
    per_sender = texts / pool.senders
    cap_left = {key: max(0, cap - cap_used.get(key, 0)) for key, cap in pool.caps.items()}
    seconds, parts_today = 0.0, 0.0
    held: dict[str, int] = {}
    for lane in pool.lanes:
        share = per_sender if lane.carrier == ALL else known.get(lane.carrier, 0) / pool.senders
        parts = share * parts_per_text
        if lane.cap_key:
            over = max(0.0, parts - cap_left[lane.cap_key])
            cap_left[lane.cap_key] -= int(parts - over)
            if over:
                name = CARRIER_NAMES[lane.carrier] if lane.carrier != ALL else "daily"
                held[name] = held.get(name, 0) + round(over / parts_per_text)
            parts -= over
        seconds = max(seconds, parts / lane.rate)
        parts_today += parts
    rate = parts_today / seconds if seconds else pool.total_rate
    return BlastPlan(seconds, rate, pool.senders, held)


def talent_blast_plan(*, talent, fans, parts_per_text: int, start: dt.datetime) -> BlastPlan:
    """The plan for `fans` (the audience queryset) with the talent's senders, starting `start`."""
    pool = build_pool(talent, list(Sender.objects.filter(talent=talent)))
    carriers: dict[str, int] = {}
    if pool.by_carrier:
        found = FanCarrier.objects.filter(fan__in=fans.values("id")).values("carrier").annotate(n=Count("fan_id"))
        carriers = {row["carrier"]: row["n"] for row in found}
    used = dict(
        SenderDailyCount.objects.filter(talent=talent, day=pacific_day(start), cap_key__in=list(pool.caps)).values_list(
            "cap_key", "parts"
        )
    )
    plan = plan_blast(pool, texts=fans.count(), parts_per_text=parts_per_text, carriers=carriers, cap_used=used)
    return BlastPlan(
        plan.seconds, plan.parts_per_second, plan.senders, plan.held_by_cap, start + dt.timedelta(seconds=plan.seconds)
    )


def audience_zones(*, talent, fans) -> list[str]:
    """The audience's time zones (a fan with none is on the talent's), as the engine reads them
    when it defers a row for quiet hours (claim.plan_claim)."""
    found = fans.order_by().values_list("time_zone", flat=True).distinct()[:100]
    return sorted({zone or talent.default_time_zone for zone in found})


def _splits_in(zone: str, *, talent, start: dt.datetime, ends_at: dt.datetime) -> bool:
    """Whether quiet hours in `zone` begin while the blast still sends, or have already begun."""
    try:
        tz = scheduling.zone(zone)
    except Exception:  # an unknown zone is paced in the talent's, as claim.plan_claim does
        tz = talent.tz
    if scheduling.next_allowed(start, tz, talent.quiet_hours_start, talent.quiet_hours_end) != start:
        return True  # inside quiet hours there at the start: those fans wait for the morning
    local = start.astimezone(tz)
    begins = dt.datetime.combine(local.date(), talent.quiet_hours_start, tzinfo=tz)
    if begins <= local:
        begins += dt.timedelta(days=1)
    return ends_at > begins


def plan_warnings(
    plan: BlastPlan, *, talent, start: dt.datetime, ignore_quiet_hours: bool = False, zones: list[str] | None = None
) -> list[str]:
    """What will split the blast, said before it is scheduled. Quiet hours are each fan's local
    time, so they are checked in every zone of the audience (`zones`; the talent's by default)."""
    found = []
    if plan.senders == 0:
        found.append(
            "None of the talent's senders can send: their 10DLC registration is not approved (Settings > Senders)."
        )
    for cap, texts in plan.held_by_cap.items():
        found.append(f"{texts:,} texts are over today's {cap} cap: they go after midnight Pacific time.")
    if plan.ends_at and not ignore_quiet_hours and talent.quiet_hours_start != talent.quiet_hours_end:
        split = [
            zone
            for zone in (zones or [talent.default_time_zone])
            if _splits_in(zone, talent=talent, start=start, ends_at=plan.ends_at)
        ]
        if split:
            where = ", ".join(split[:5]) + (f" and {len(split) - 5} more" if len(split) > 5 else "")
            found.append(
                f"Sending takes until after {talent.quiet_hours_start:%H:%M} fans' local time ({where}), when quiet "
                "hours begin: fans not reached by then get it when quiet hours end."
            )
    return found


def estimate_send_plan(*, talent, fans, parts_per_text: int, start: dt.datetime, ignore_quiet_hours: bool):
    """The composer's figure and warnings (registered in campaigns.services.SEND_PLANNERS)."""
    from messaging.campaigns.services import SendPlan

    plan = talent_blast_plan(talent=talent, fans=fans, parts_per_text=parts_per_text, start=start)
    zones = [] if ignore_quiet_hours else audience_zones(talent=talent, fans=fans)
    warnings = plan_warnings(plan, talent=talent, start=start, ignore_quiet_hours=ignore_quiet_hours, zones=zones)
    return SendPlan(plan.summary(), tuple(warnings))


def sender_day(sender, *, now: dt.datetime) -> str:
    """The console's line on a sender's daily cap today: booked, the cap, and what waits for it."""
    from messaging.sms.models import OutboundMessage

    # The sender's own caps, not its pool's: a held-back sender has no lanes (build_pool leaves it
    # out), and its page said "No daily cap" when it had one.
    caps = sender_caps(sender)
    why = held_back_reason(sender)
    held = f"Held back: {why}" if why else ""
    if not caps:
        return f"No daily cap. {held}" if held else "No daily cap"
    key, cap = next(iter(caps.items()))
    used = (
        SenderDailyCount.objects.filter(talent_id=sender.talent_id, cap_key=key, day=pacific_day(now))
        .values_list("parts", flat=True)
        .first()
        or 0
    )
    name = "T-Mobile" if key.startswith("tmobile:") else "Daily"
    text = f"{name}: {used:,} of {cap:,} SMS parts today, {max(0, cap - used):,} left"
    if held:
        return f"{text}. {held}"
    if used >= cap:
        midnight = next_pacific_midnight(now)
        waiting = OutboundMessage.objects.filter(
            talent_id=sender.talent_id, status=OutboundMessage.Status.PENDING, not_before=midnight
        ).count()
        texts = "waiting text goes" if waiting == 1 else "waiting texts go"
        text += f". Cap reached: {waiting:,} {texts} after midnight Pacific time"
    return text
