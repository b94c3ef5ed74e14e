"""SMS pumping guard (issue 15): texts that anyone can make us send go only where they should.

Signup codes and join links are sent to whatever number a stranger types or texts from. Fraudsters
use that to send thousands of texts to premium-rate numbers abroad and share the carriers' fees.
Two rules, checked when such a text is queued (messaging/conversations/priority.py):

1. The number's country must be one the talent serves (`Talent.served_countries`; empty means
   everywhere, which only talents created before issue 15 have unless their team chose it).
2. Hourly caps per talent and destination country: `home_texts_per_hour` for the sender's own
   country (high: a celebrity moment is tens of thousands of join links), `abroad_texts_per_hour`
   for each other country (low). Counted in Django's cache like the other rate limits
   (accounts/ratelimit.py: exact per process, shared once REDIS_URL is set).

A text refused here is stored as suppressed with the reason (the team sees it among Sent texts),
and the first refusal over a cap in each window writes one AuditEvent (`sms.pumping_cap_reached`).
A number of a country the talent does not serve is refused without an audit row: the signup form
already refuses those, so only a stranger texting in from abroad gets here. Compliance texts (STOP/HELP confirmations, data
links the fan asked for) and team replies are never held here.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from accounts import phones
from accounts.audit import audit
from accounts.models import Talent

WINDOW = 3600


def cap_for(talent: Talent, country: str) -> int:
    return talent.home_texts_per_hour if country and country == talent.home_country else talent.abroad_texts_per_hour


def _key(talent: Talent, country: str) -> str:
    return f"pump:{talent.pk}:{country or '??'}:{int(time.time()) // WINDOW}"


def sent_this_hour(talent: Talent, country: str) -> int:
    return int(cache.get(_key(talent, country)) or 0)


def refusals(*, talent: Talent, numbers: list[str]) -> dict[str, str]:
    """Count these texts (one per number, in order) and return {number: reason} for those refused."""
    refused: dict[str, str] = {}
    by_country: dict[str, list[str]] = {}
    for number in numbers:
        country = phones.country_of(number)
        if not country or not talent.serves_country(country):
            refused[number] = f"not sent: {talent.display_name} does not text numbers in {country or 'that country'}"
            continue
        by_country.setdefault(country, []).append(number)
    for country, wanted in by_country.items():
        cap, key = cap_for(talent, country), _key(talent, country)
        cache.add(key, 0, timeout=WINDOW + 60)
        try:
            total = cache.incr(key, len(wanted))
        except ValueError:  # expired between add() and incr()
            cache.add(key, len(wanted), timeout=WINDOW + 60)
            total = len(wanted)
        before = total - len(wanted)
        allowed = max(0, cap - before)
        over = wanted[allowed:]
        for number in over:
            refused[number] = f"not sent: the hourly cap of {cap} signup texts to {country} was reached"
        if over and cache.add(key + ":audited", 1, timeout=WINDOW + 60):
            audit("sms.pumping_cap_reached", talent=talent, country=country, cap=cap, window_seconds=WINDOW)
    return refused


def usage(talent: Talent) -> list[tuple[str, int, int]]:
    """(country, sent this hour, cap) for the talent's home and served countries: the console shows it."""
    countries = [talent.home_country] + [c.strip() for c in talent.served_countries.split(",") if c.strip()]
    seen = list(dict.fromkeys(c for c in countries if c))
    return [(c, sent_this_hour(talent, c), cap_for(talent, c)) for c in seen]
