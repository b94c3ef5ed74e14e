"""A talent's sender pool as the engine paces it: lanes of (sender, carrier), each with its rate in
SMS parts a second and, where the carriers impose one, a daily cap (issue 17).

The carriers' limits, by sender type (Twilio's published figures):
- long code (unregistered): 1 a second; toll-free: 3; short code: 100;
- 10DLC: by the brand's trust score 75, 40 or 4 a second *per carrier* (AT&T, T-Mobile, Verizon;
  225, 120 or 12 in all); T-Mobile also caps each brand at a daily number (2,000 to 200,000,
  reset at midnight US/Pacific); other and unknown carriers go at the slowest of the three;
- 10DLC sole proprietor: 1 a second and 1,000 a day.
Any of these can be overridden per carrier (`Sender.rate_overrides`).

A fan always goes out from the same sender of the pool (fan id modulo the number of senders), so
a fan who replies reaches the number that texted them. A talent without pool rows sends as it did
before issue 17: one lane, its own number, `Talent.parts_per_second`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import TypedDict

from django.core.exceptions import ValidationError

from accounts.phones import phone_text

CARRIERS = ("att", "tmobile", "verizon")
OTHER = "other"  # any other carrier, and fans whose carrier is not known
ALL = "all"  # a sender not metered per carrier
CARRIER_NAMES = {"att": "AT&T", "tmobile": "T-Mobile", "verizon": "Verizon", OTHER: "other carriers", ALL: "all"}
PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")  # T-Mobile's day
KIND_RATES = {"long_code": 1, "toll_free": 3, "short_code": 100, "sole_proprietor": 1}
SOLE_PROPRIETOR_DAILY = 1000


def ten_dlc_rate(trust_score: int | None) -> int:
    """Parts a second per carrier for a 10DLC brand of this trust score."""
    score = trust_score or 0
    return 75 if score >= 75 else 40 if score >= 50 else 4


def carrier_of(name: str | None) -> str:
    """Our lane name for a carrier as stored on FanCarrier (att, tmobile, verizon; else other)."""
    return name if name in CARRIERS else OTHER


def validate_overrides(kind: str, overrides: object) -> None:
    if not isinstance(overrides, dict):
        raise ValidationError({"rate_overrides": 'Write rates as {"carrier": parts a second}, e.g. {"att": 75}.'})
    allowed = (*CARRIERS, OTHER) if kind == "10dlc" else (ALL,)
    for key, value in overrides.items():
        if key not in allowed:
            names = ", ".join(allowed)
            raise ValidationError({"rate_overrides": f"Unknown carrier {key!r} for this type: use {names}."})
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 10000:
            raise ValidationError(
                {"rate_overrides": f"The rate for {key} must be a number of parts a second (1-10000)."}
            )


def sender_rates(kind: str, trust_score: int | None, overrides: dict) -> dict[str, float]:
    """The lanes of one sender and their rates."""
    if kind == "10dlc":
        per = ten_dlc_rate(trust_score)
        rates = {carrier: float(overrides.get(carrier, per)) for carrier in CARRIERS}
        rates[OTHER] = float(overrides.get(OTHER, min(rates.values())))  # unknown: the slowest
        return rates
    return {ALL: float(overrides.get(ALL, KIND_RATES.get(kind, 1)))}


@dataclass(frozen=True)
class Lane:
    index: int  # position in Pool.lanes (ClaimedRow.lane)
    sender_id: int | None  # None: the talent's own settings (no pool rows)
    sender_index: int
    carrier: str  # all | att | tmobile | verizon | other
    rate: float
    from_: str
    messaging_service_sid: str
    primary: bool  # the talent's own number: the priority lane books the same SenderClock
    cap_key: str = ""  # counted under a daily cap ("" none)
    daily_cap: int | None = None

    @property
    def label(self) -> str:
        who = self.from_ or self.messaging_service_sid
        return who if self.carrier == ALL else f"{who} to {CARRIER_NAMES[self.carrier]}"


@dataclass(frozen=True)
class Pool:
    talent_id: int
    lanes: tuple[Lane, ...]
    senders: int

    @property
    def simple(self) -> bool:
        """One lane on the talent's own clock: the engine runs exactly as before issue 17."""
        return len(self.lanes) == 1 and self.lanes[0].primary

    @property
    def by_carrier(self) -> bool:
        return any(lane.carrier != ALL for lane in self.lanes)

    @property
    def total_rate(self) -> float:
        return sum(lane.rate for lane in self.lanes)

    @property
    def caps(self) -> dict[str, int]:
        return {lane.cap_key: lane.daily_cap for lane in self.lanes if lane.cap_key and lane.daily_cap}

    def lane_for(self, fan_id: int | None, carrier: str | None) -> Lane:
        sender = (fan_id or 0) % self.senders
        wanted = carrier_of(carrier)
        mine = [lane for lane in self.lanes if lane.sender_index == sender]
        for lane in mine:
            if lane.carrier in (wanted, ALL):
                return lane
        return mine[0]

    def sender_rate(self, sender_index: int) -> float:
        return sum(lane.rate for lane in self.lanes if lane.sender_index == sender_index)


def build_pool(talent, senders: list) -> Pool:
    """The pool of a talent from its Sender rows (ordered); its own settings when it has none."""
    own_number = phone_text(talent.sender_number)
    if not senders:
        lane = Lane(0, None, 0, ALL, float(talent.parts_per_second), own_number, talent.messaging_service_sid, True)
        return Pool(talent.pk, (lane,), 1)
    usable = [sender for sender in senders if not held_back(sender)]
    if not usable:
        # Every sender waits for its 10DLC registration: nothing sends (not the talent's own
        # number either, which is one of them); the Senders page says why.
        return Pool(talent.pk, (), 0)
    senders = usable
    lanes: list[Lane] = []
    for i, sender in enumerate(senders):
        primary = bool(
            (sender.phone_number and sender.phone_number == own_number)
            or (sender.messaging_service_sid and sender.messaging_service_sid == talent.messaging_service_sid)
        )
        for carrier, rate in sender_rates(sender.kind, sender.trust_score, sender.rate_overrides or {}).items():
            cap_key, cap = cap_of(sender, carrier)
            lanes.append(
                Lane(
                    len(lanes),
                    sender.pk,
                    i,
                    carrier,
                    rate,
                    sender.phone_number,
                    sender.messaging_service_sid,
                    primary,
                    cap_key,
                    cap,
                )
            )
    return Pool(talent.pk, tuple(lanes), len(senders))


def cap_of(sender, carrier: str) -> tuple[str, int | None]:
    """The daily cap a sender's lane toward `carrier` counts under: (key, parts a day), ("", None)."""
    if sender.kind == "sole_proprietor":
        return f"sender:{sender.pk}", SOLE_PROPRIETOR_DAILY
    if carrier == "tmobile" and sender.tmobile_daily_cap:
        return f"tmobile:{sender.brand or sender.pk}", sender.tmobile_daily_cap
    return "", None


def sender_caps(sender) -> dict[str, int]:
    """The daily caps of one sender, whether or not it may send now (the Senders page shows a
    held-back sender's cap too: build_pool leaves such a sender out, so its pool has none)."""
    found: dict[str, int] = {}
    for carrier in sender_rates(sender.kind, sender.trust_score, sender.rate_overrides or {}):
        key, cap = cap_of(sender, carrier)
        if key and cap:
            found[key] = cap
    return found


def held_back(sender) -> bool:
    """A sender carriers would refuse: Twilio reported a 10DLC registration problem for it (brand
    or campaign not approved, registration.py) or a send from it failed with error 30034 (the
    number is not registered). It is left out of the pool until that is fixed."""
    return bool(held_back_reason(sender))


def held_back_reason(sender) -> str:
    """Why a sender is held back, in the team's words ("" when it may send)."""
    if getattr(sender, "unregistered_at", None) is not None:
        return "Twilio error 30034: carriers see this number as not registered for 10DLC"
    return str(getattr(sender, "registration_problem", "") or "")


class Address(TypedDict):
    """Where a text leaves from, as SmsMessage takes it."""

    from_: str
    messaging_service_sid: str


def lane_address(talent, fan_id: int | None = None) -> Address:
    """From where the priority lane sends a one-to-one text (STOP/HELP confirmations, links,
    replies): SmsMessage's `from_` and `messaging_service_sid`.

    Reads `talent.senders.all()`, which the caller prefetches (the lane sends from an event loop,
    where a query is not allowed); not prefetched, the talent's own number as before issue 17.
    1. No sender rows: the talent's own number or Messaging Service (as before).
    2. The talent's own number, when it may send (the number fans know and text).
    3. Otherwise the fan's sender among those that may send (fan id modulo them: the number the
       fan's campaign texts come from), so a held-back own number does not block the lane.
    4. No sender may send: the talent's own number all the same. STOP and HELP confirmations must
       go (carrier and CTIA rules) and the fan texted that number; a reply or link is one answer
       to a fan who just wrote, and holding it would leave them unanswered while the team fixes
       the registration. If the carrier refuses it, the row fails with its code in the inbox.
    """
    return _lane_choice(talent, fan_id)[0]


def lane_sender(talent, fan_id: int | None = None):
    """The pool's Sender row that lane_address sends from, or None (no rows prefetched, or the
    talent's own number or service has no Sender row)."""
    return _lane_choice(talent, fan_id)[1]


def _lane_choice(talent, fan_id: int | None):
    own = Address(
        from_="" if talent.messaging_service_sid else phone_text(talent.sender_number),
        messaging_service_sid=talent.messaging_service_sid,
    )
    cache = getattr(talent, "_prefetched_objects_cache", {})
    senders = cache.get("senders")
    if not senders:
        return own, None
    own_number = phone_text(talent.sender_number)

    def is_own(sender) -> bool:
        return bool(
            (own_number and sender.phone_number == own_number)
            or (talent.messaging_service_sid and sender.messaging_service_sid == talent.messaging_service_sid)
        )

    usable = [sender for sender in senders if not held_back(sender)]
    if not usable:
        return own, next((sender for sender in senders if is_own(sender)), None)
    for sender in usable:
        if is_own(sender):
            return own, sender
    chosen = usable[(fan_id or 0) % len(usable)]
    service = chosen.messaging_service_sid
    return Address(from_="" if service else chosen.phone_number, messaging_service_sid=service), chosen


def pacific_day(now: dt.datetime) -> dt.date:
    return now.astimezone(PACIFIC).date()


def next_pacific_midnight(now: dt.datetime) -> dt.datetime:
    """When T-Mobile's daily caps reset (midnight US/Pacific, DST-safe), as an aware UTC instant."""
    day = pacific_day(now) + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=PACIFIC).astimezone(dt.UTC)


def lane_on_talent_clock(lane: Lane) -> bool:
    """A single-lane sender of the talent's own number books the talent's SenderClock, the clock
    the priority lane books first (issue 10's one pacing rule)."""
    return lane.primary and lane.carrier == ALL
