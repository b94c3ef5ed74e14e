"""Synthetic fans for demos and benchmarks: plausible people across countries and time zones.

Numbers are generated, not real subscribers: each country's mobile range is walked by a counter
with a fixed odd stride, so one run never repeats a number and later runs continue where the
talent's existing synthetic fans left off. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

FIRST_NAMES = (
    "Olivia Liam Emma Noah Ava Oliver Sophia Elijah Isabella Lucas Mia Mason Amelia Ethan Harper Logan Evelyn "
    "James Abigail Aiden Emily Jacob Ella Jackson Chloe Sebastian Zoe Mateo Lily Leo Nora Camila Diego Sofia "
    "Valentina Hugo Lea Louis Jade Lena Finn Hannah Ben Mila Jonas Ruby Archie Isla Freya Alfie Grace Jack "
    "Charlotte Thomas Manon Gabriel Chloé Maya Kai Aria Ayaan Zara Yusuf Priya"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Müller Schmidt Schneider Fischer Weber Dubois Lefebvre Moreau Laurent Evans Davies Roberts Patel Khan "
    "Kowalski Rossi Silva O'Brien"
).split()


@dataclass(frozen=True)
class Place:
    country: str
    region: str
    city: str
    postal_prefix: str
    time_zone: str
    dial: str  # country calling code digits
    mobile_prefix: str  # national significant number starts with this
    subscriber_digits: int  # digits after the prefix


PLACES: tuple[tuple[Place, int], ...] = (
    (Place("US", "NY", "New York", "100", "America/New_York", "1", "212", 7), 14),
    (Place("US", "CA", "Los Angeles", "900", "America/Los_Angeles", "1", "213", 7), 13),
    (Place("US", "IL", "Chicago", "606", "America/Chicago", "1", "312", 7), 8),
    (Place("US", "TX", "Austin", "787", "America/Chicago", "1", "512", 7), 6),
    (Place("US", "TN", "Nashville", "372", "America/Chicago", "1", "615", 7), 5),
    (Place("US", "FL", "Miami", "331", "America/New_York", "1", "305", 7), 6),
    (Place("US", "WA", "Seattle", "981", "America/Los_Angeles", "1", "206", 7), 4),
    (Place("US", "AZ", "Phoenix", "850", "America/Phoenix", "1", "602", 7), 3),
    (Place("CA", "ON", "Toronto", "M5V", "America/Toronto", "1", "416", 7), 5),
    (Place("CA", "BC", "Vancouver", "V6B", "America/Vancouver", "1", "604", 7), 3),
    (Place("GB", "England", "London", "SW1", "Europe/London", "44", "77", 8), 10),
    (Place("GB", "England", "Manchester", "M1", "Europe/London", "44", "78", 8), 3),
    (Place("DE", "BE", "Berlin", "101", "Europe/Berlin", "49", "151", 8), 5),
    (Place("FR", "IDF", "Paris", "750", "Europe/Paris", "33", "6", 8), 5),
    (Place("MX", "CMX", "Mexico City", "06", "America/Mexico_City", "52", "155", 8), 5),
    (Place("AU", "NSW", "Sydney", "20", "Australia/Sydney", "61", "4", 8), 3),
    (Place("BR", "SP", "São Paulo", "01", "America/Sao_Paulo", "55", "119", 8), 2),
)

STATUS_WEIGHTS = (("active", 90), ("opted_out", 6), ("pending", 4))


@dataclass
class SyntheticFan:
    phone: str
    first_name: str
    last_name: str
    email: str
    birth_date: dt.date
    city: str
    region: str
    postal_code: str
    country: str
    time_zone: str
    status: str
    shares_with_partners: bool
    joined_at: dt.datetime
    opted_out_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    last_reply_at: dt.datetime | None
    last_click_at: dt.datetime | None


def _walk(index: int, space: int) -> int:
    """A bijection of range(space) so consecutive fans don't get consecutive numbers."""
    stride = 7_368_787  # odd and coprime with every power of ten used here
    return (index * stride + 12_345) % space


def generate(count: int, *, start: int = 0, seed: int = 42, now: dt.datetime | None = None) -> Iterator[SyntheticFan]:
    """Yield `count` synthetic fans numbered start .. start + count - 1 (the number decides the phone)."""
    rng = random.Random(seed + start)
    now = now or dt.datetime.now(dt.UTC)
    places = [p for p, _ in PLACES]
    place_weights = [w for _, w in PLACES]
    statuses = [s for s, _ in STATUS_WEIGHTS]
    status_weights = [w for _, w in STATUS_WEIGHTS]
    chosen_places = rng.choices(range(len(places)), weights=place_weights, k=count)
    chosen_status = rng.choices(statuses, weights=status_weights, k=count)
    for offset in range(count):
        index = start + offset
        place = places[chosen_places[offset]]
        space = 10**place.subscriber_digits
        # _walk is a bijection on the range, and every place has its own prefix: distinct indices
        # give distinct numbers.
        subscriber = _walk(index, space)
        phone = f"+{place.dial}{place.mobile_prefix}{subscriber:0{place.subscriber_digits}d}"
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        joined = now - dt.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        status = chosen_status[offset]
        engaged = rng.random()
        yield SyntheticFan(
            phone=phone,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower().replace(chr(39), '')}{index}@example.com",
            birth_date=dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(365 * 50)),
            city=place.city,
            region=place.region,
            postal_code=f"{place.postal_prefix}{rng.randrange(100):02d}",
            country=place.country,
            time_zone=place.time_zone,
            status=status,
            shares_with_partners=rng.random() < 0.3,
            joined_at=joined,
            opted_out_at=joined + dt.timedelta(days=rng.randrange(1, 200)) if status == "opted_out" else None,
            last_sent_at=now - dt.timedelta(days=rng.randrange(60)) if engaged < 0.8 else None,
            last_reply_at=now - dt.timedelta(days=rng.randrange(90)) if engaged < 0.15 else None,
            last_click_at=now - dt.timedelta(days=rng.randrange(90)) if engaged < 0.3 else None,
        )
