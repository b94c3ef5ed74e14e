"""Segment rules: the JSON schema and its validation (pure: no database).

A definition is a tree of nodes:

    {"all": [node, ...]}    every child matches (AND); an empty list matches every fan
    {"any": [node, ...]}    at least one child matches (OR)
    {"not": node}           the child does not match
    {"field": F, "op": OP, "value": V}   one condition (see FIELDS)

`normalise_definition` returns a normalised copy (country codes upper-cased, ids as ints) and raises
SegmentRuleError naming the rule by its path, e.g. `all[1].any[0] (country): 'USA' is not ...`.
The full check, which also looks up the lists and tags a rule names, is
messaging.audience.models.validate_definition; the compiler is messaging.audience.segments.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from accounts.models import Fan

MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_VALUES = 1000


class SegmentRuleError(ValueError):
    """A definition that cannot be compiled; the message names the offending rule."""


@dataclass(frozen=True)
class FieldSpec:
    label: str
    ops: tuple[str, ...]
    kind: str  # how the value is read: codes, strings, prefix, zones, age, date, choices, ids, bool, days
    help: str = ""


FIELDS: dict[str, FieldSpec] = {
    "country": FieldSpec("Country", ("in",), "codes", "two-letter codes, e.g. US, CA"),
    "region": FieldSpec("Region / state", ("in",), "strings", "e.g. CA, Ontario"),
    "city": FieldSpec("City", ("in",), "strings"),
    "postal_code": FieldSpec("Postal code", ("starts_with",), "prefix", "a prefix, e.g. 941"),
    "time_zone": FieldSpec("Time zone", ("in",), "zones", "IANA names, e.g. America/New_York"),
    "age": FieldSpec("Age", ("between",), "age", "from birth date; min and/or max, e.g. 18-24"),
    "joined_at": FieldSpec("Joined", ("before", "after"), "date", "a date, YYYY-MM-DD"),
    "source": FieldSpec("Source", ("in",), "choices:source", ", ".join(Fan.Source.values)),
    "status": FieldSpec("Status", ("in",), "choices:status", ", ".join(Fan.Status.values)),
    "list": FieldSpec("In contact list", ("in",), "ids:list", "member of any of these lists"),
    "tag": FieldSpec("Has tag", ("in",), "ids:tag", "carries any of these tags"),
    "shares_with_partners": FieldSpec("Partner-sharing consent", ("is",), "bool", "true or false"),
    "engagement": FieldSpec(
        "Engagement",
        ("replied_within", "clicked_within", "received_within", "never_messaged"),
        "days",
        "within N days (1-3650); never_messaged takes no value",
    ),
    # Issue 13 §5: "fans who voted 2 in this poll". The votes are the conversations layer's; the
    # compiler reads them by model label (segments.py), so this layer imports nothing above it.
    "poll": FieldSpec("Voted in poll", ("voted",), "poll", "the poll's number, a colon, then answers, e.g. 12: 2, 3"),
}


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# --- validation ---------------------------------------------------------------------------------
def normalise_definition(definition: Any) -> dict:
    """Check a definition's shape and return its normalised form; raise SegmentRuleError naming the rule."""
    if definition in (None, {}, ""):
        return {"all": []}
    if not isinstance(definition, dict):
        raise SegmentRuleError('definition: expected an object such as {"all": [...]}')
    counter = [0]
    return _validate_node(definition, "definition", 0, counter)


def _validate_node(node: Any, path: str, depth: int, counter: list[int]) -> dict:
    if depth > MAX_DEPTH:
        raise SegmentRuleError(f"{path}: rules nest deeper than {MAX_DEPTH} levels")
    if not isinstance(node, dict):
        raise SegmentRuleError(f"{path}: expected an object, got {type(node).__name__}")
    keys = set(node)
    if keys in ({"all"}, {"any"}):
        (key,) = keys
        children = node[key]
        if not isinstance(children, list):
            raise SegmentRuleError(f"{path}.{key}: expected a list of rules")
        if key == "any" and not children:
            raise SegmentRuleError(f"{path}.any: needs at least one rule")
        return {key: [_validate_node(c, f"{path}.{key}[{i}]", depth + 1, counter) for i, c in enumerate(children)]}
    if keys == {"not"}:
        return {"not": _validate_node(node["not"], f"{path}.not", depth + 1, counter)}
    if "field" in node:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise SegmentRuleError(f"{path}: more than {MAX_CONDITIONS} conditions")
        return _validate_condition(node, path)
    raise SegmentRuleError(f"{path}: expected 'all', 'any', 'not' or a condition with 'field', got keys {sorted(keys)}")


def _validate_condition(node: dict, path: str) -> dict:
    field = node.get("field")
    extra = set(node) - {"field", "op", "value"}
    if field not in FIELDS:
        raise SegmentRuleError(f"{path}: unknown field {field!r}; known fields: {', '.join(FIELDS)}")
    where = f"{path} ({field})"
    if extra:
        raise SegmentRuleError(f"{where}: unexpected keys {sorted(extra)}")
    spec = FIELDS[field]
    op = node.get("op", spec.ops[0] if len(spec.ops) == 1 else None)
    if op not in spec.ops:
        raise SegmentRuleError(f"{where}: operator {op!r} is not one of {', '.join(spec.ops)}")
    value = node.get("value")
    return {"field": field, "op": op, "value": _validate_value(spec, op, value, where)}


def _as_list(value: Any, where: str) -> list:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise SegmentRuleError(f"{where}: expected a non-empty list of values")
    if len(value) > MAX_VALUES:
        raise SegmentRuleError(f"{where}: more than {MAX_VALUES} values")
    return value


def _validate_value(spec: FieldSpec, op: str, value: Any, where: str) -> Any:
    kind = spec.kind
    if kind == "codes":
        out: list[Any] = []  # each branch below fills its own list: str values, int ids
        for v in _as_list(value, where):
            code = str(v).strip().upper()
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                raise SegmentRuleError(f"{where}: {v!r} is not a two-letter country code")
            out.append(code)
        return sorted(set(out))
    if kind == "strings":
        out = []
        for v in _as_list(value, where):
            if not isinstance(v, str) or not v.strip() or len(v) > 100:
                raise SegmentRuleError(f"{where}: {v!r} must be a non-empty text of at most 100 characters")
            out.append(v.strip())
        return out
    if kind == "prefix":
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 20:
            raise SegmentRuleError(f"{where}: expected a postal-code prefix of 1-20 characters")
        return value.strip().upper()
    if kind == "zones":
        out = []
        for v in _as_list(value, where):
            if not isinstance(v, str) or v not in _zones():
                raise SegmentRuleError(f"{where}: {v!r} is not an IANA time zone")
            out.append(v)
        return out
    if kind == "age":
        if not isinstance(value, dict) or not set(value) <= {"min", "max"}:
            raise SegmentRuleError(f'{where}: expected {{"min": N, "max": N}} (either may be left out)')
        lo, hi = value.get("min"), value.get("max")
        for bound in (lo, hi):
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or not 0 <= bound <= 130):
                raise SegmentRuleError(f"{where}: age bounds must be whole numbers from 0 to 130, got {bound!r}")
        if lo is None and hi is None:
            raise SegmentRuleError(f"{where}: give a minimum age, a maximum age, or both")
        if lo is not None and hi is not None and lo > hi:
            raise SegmentRuleError(f"{where}: minimum age {lo} is above maximum age {hi}")
        return {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise SegmentRuleError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
    if kind.startswith("choices:"):
        choices = Fan.Source.values if kind.endswith("source") else Fan.Status.values
        out = []
        for v in _as_list(value, where):
            if v not in choices:
                raise SegmentRuleError(f"{where}: {v!r} is not one of {', '.join(choices)}")
            out.append(v)
        return out
    if kind.startswith("ids:"):
        out = []
        for v in _as_list(value, where):
            try:
                out.append(int(v))
            except (TypeError, ValueError):
                raise SegmentRuleError(f"{where}: {v!r} is not an id")
        return sorted(set(out))
    if kind == "bool":
        if not isinstance(value, bool):
            raise SegmentRuleError(f"{where}: expected true or false")
        return value
    if kind == "days":
        if op == "never_messaged":
            if value not in (None, True):
                raise SegmentRuleError(f"{where}: never_messaged takes no value")
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
            raise SegmentRuleError(f"{where}: expected a number of days from 1 to 3650, got {value!r}")
        return value
    if kind == "poll":
        return _validate_poll(value, where)
    raise AssertionError(kind)  # pragma: no cover - FIELDS and this function go together


MAX_POLL_ANSWER = 40  # Vote.option's length
_ANSWER_EDGES = re.compile(r"^[\s\W_]+|[\s\W_]+$", re.UNICODE)


def normalise_answer(text: str) -> str:
    """ " 2! " -> "2", "Paris." -> "paris": how a poll stores its answers and reads a vote (the
    conversations layer's polls.normalise is this function), so a rule's answer matches a vote."""
    return re.sub(r"\s+", " ", _ANSWER_EDGES.sub("", text or "")).lower()


def _validate_poll(value: Any, where: str) -> dict:
    """{"poll": id, "answers": ["2", ...]}; no answers (or an empty list) = voted at all. Answers are
    compared as the poll stores them (lower case, no surrounding spaces or punctuation)."""
    if not isinstance(value, dict) or "poll" not in value or not set(value) <= {"poll", "answers"}:
        raise SegmentRuleError(f'{where}: expected {{"poll": id, "answers": ["2"]}} (answers may be left out)')
    poll = value["poll"]
    if isinstance(poll, bool) or not isinstance(poll, (int, str)) or not str(poll).strip().isdigit():
        raise SegmentRuleError(f"{where}: {poll!r} is not a poll id")
    answers = value.get("answers") or []
    if isinstance(answers, (str, int)) and not isinstance(answers, bool):
        answers = [answers]
    if not isinstance(answers, list) or len(answers) > MAX_VALUES:
        raise SegmentRuleError(f"{where}: answers must be a list of at most {MAX_VALUES} values")
    out = []
    for answer in answers:
        if isinstance(answer, bool) or not isinstance(answer, (str, int)):
            raise SegmentRuleError(f"{where}: {answer!r} is not an answer")
        text = normalise_answer(str(answer))
        if not text or len(text) > MAX_POLL_ANSWER:
            raise SegmentRuleError(f"{where}: {answer!r} must be an answer of 1-{MAX_POLL_ANSWER} characters")
        out.append(text)
    return {"poll": int(str(poll).strip()), "answers": sorted(set(out))}


def walk_conditions(node: dict, path: str = "definition"):
    for key in ("all", "any"):
        if key in node:
            for i, child in enumerate(node[key]):
                yield from walk_conditions(child, f"{path}.{key}[{i}]")
            return
    if "not" in node:
        yield from walk_conditions(node["not"], f"{path}.not")
        return
    yield path, node


# Operator words for people (the builder's choices and every summary).
OP_LABELS = {
    "in": "is one of",
    "starts_with": "starts with",
    "between": "is between",
    "before": "before",
    "after": "after",
    "is": "is",
    "replied_within": "replied within (days)",
    "clicked_within": "clicked within (days)",
    "received_within": "received a campaign within (days)",
    "never_messaged": "never messaged",
    "voted": "voted",
}


def describe(definition: dict, names: dict[str, dict[int, str]] | None = None) -> str:
    """A one-line human reading of a definition, for list pages and audit rows.

    `names` maps "list" and "tag" to {id: name}, so a summary reads "In contact list is one of VIP"
    rather than an id (an id not in the map, e.g. a deleted list, shows as "#12").
    """
    names = names or {}
    if "all" in definition:
        parts = [describe(c, names) for c in definition["all"]]
        return " AND ".join(f"({p})" if " OR " in p else p for p in parts) or "every fan"
    if "any" in definition:
        return " OR ".join(describe(c, names) for c in definition["any"])
    if "not" in definition:
        return f"NOT ({describe(definition['not'], names)})"
    field, op = definition["field"], definition["op"]
    value = definition.get("value")
    if field == "poll" and isinstance(value, dict):
        poll_id = int(value.get("poll") or 0)
        poll = names.get("poll", {}).get(poll_id, f"#{poll_id}")
        answers = ", ".join(value.get("answers") or [])
        return f"Voted in poll {poll}" + (f": {answers}" if answers else "")
    if field in ("list", "tag") and isinstance(value, list):
        known = names.get(field, {})
        value = ", ".join(known.get(v, f"#{v}") for v in value)
    elif isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        lo, hi = value.get("min"), value.get("max")
        value = f"{lo}" if lo == hi else f"{'' if lo is None else lo}-{'' if hi is None else hi}"
    elif isinstance(value, bool):
        value = "yes" if value else "no"
    label = FIELDS[field].label if field in FIELDS else field
    return f"{label} {OP_LABELS.get(op, op)} {value if value is not None else ''}".strip()
