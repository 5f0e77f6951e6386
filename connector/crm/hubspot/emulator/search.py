"""``POST /crm/v3/objects/{type}/search`` (facts §1.3).

filterGroups are ORed, filters inside a group ANDed; at most 5 groups, 6 filters a
group and 18 in all; one sort (object or ``"-prop"`` string form); ``limit`` up to
200; ``after`` is an integer offset and paging at or past 10,000 is a 400.
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from bisect import bisect_left
from operator import itemgetter

from . import errors
from .gcpause import gc_paused
from .timefmt import iso_from_ms, normalize_date, parse_timestamp_ms

MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, MAX_RESULTS, MAX_QUERY = 200, 10_000, 3_000
OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
_TOKEN_SPLIT = re.compile(r"[\s@.,;:/\\\-_+()<>\"'!?]+")


def tokens(text: str) -> set[str]:
    low = text.lower()
    return {t for t in _TOKEN_SPLIT.split(low) if t} | {low}


class _Kind:
    """How a property's values compare: numeric, time (canonical ISO strings), or text."""

    def __init__(self, ptype: str, name: str) -> None:
        self.ptype = ptype
        self.case_sensitive = ptype in ("enumeration", "bool", "number", "datetime", "date")

    def coerce(self, raw):
        """Filter value -> comparable; raises ValueError when it cannot."""
        if raw is None:
            raise ValueError("missing value")
        if self.ptype == "number":
            return float(raw)
        if self.ptype == "datetime":
            ms = parse_timestamp_ms(raw)
            if ms is None:
                raise ValueError(raw)
            return iso_from_ms(ms)
        if self.ptype == "date":
            day = normalize_date(raw)
            if day is None:
                ms = parse_timestamp_ms(raw)
                if ms is None:
                    raise ValueError(raw)
                day = iso_from_ms(ms)[:10]
            return day
        if self.ptype == "bool":
            return str(raw).lower()
        return str(raw) if self.case_sensitive else str(raw).lower()

    def stored(self, value):
        if value is None:
            return None
        if self.ptype == "number":
            try:
                return float(value)
            except ValueError:
                return None
        if self.case_sensitive:
            return value
        return value.lower()


def _bad(message: str) -> errors.ApiError:
    return errors.validation(message)


def _compile_filter(f: dict, registry, assoc_lookup):
    if not isinstance(f, dict):
        raise _bad("Invalid filter: expected an object.")
    name = f.get("propertyName")
    op = f.get("operator", "EQ")
    if op not in OPERATORS:
        raise _bad(f"Invalid operator '{op}'. Must be one of {sorted(OPERATORS)}")
    if not name:
        raise _bad("Filter is missing propertyName.")
    if name.startswith("associations."):
        return _assoc_filter(name.split(".", 1)[1], op, f, assoc_lookup)
    prop = registry.get(name)
    if prop is None:
        raise _bad(f"There was a problem with the request: property '{name}' does not exist.")
    kind = _Kind(prop.type, name)
    try:
        if op in ("IN", "NOT_IN"):
            raw_values = f.get("values")
            if not isinstance(raw_values, list) or not raw_values:
                raise _bad(f"Operator {op} requires a non-empty 'values' list.")
            # HubSpot lower-cases stored strings but not the IN values: an upper-case
            # value never matches a string property (facts §1.3).
            wanted = {kind.coerce(v) if kind.case_sensitive else str(v) for v in raw_values}
        elif op == "BETWEEN":
            low, high = kind.coerce(f.get("value")), kind.coerce(f.get("highValue"))
        elif op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            pass
        elif op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            pattern = str(f.get("value", "")).lower()
        else:
            target = kind.coerce(f.get("value"))
    except ValueError:
        raise _bad(f"Invalid filter value for property '{name}' with operator {op}.") from None

    stored = kind.stored

    if op == "EQ":
        return lambda oid, p: stored(p.get(name)) == target
    if op == "NEQ":
        return lambda oid, p: stored(p.get(name)) != target
    if op in ("LT", "LTE", "GT", "GTE"):
        cmp = {"LT": lambda a: a < target, "LTE": lambda a: a <= target,
               "GT": lambda a: a > target, "GTE": lambda a: a >= target}[op]

        def ordered(oid, p):
            v = stored(p.get(name))
            return v is not None and cmp(v)
        if name == "hs_object_id" and op in ("GT", "GTE") and math.isfinite(target):
            # the id's lower bound: the search starts there instead of scanning every object
            ordered.id_floor = math.floor(target) + 1 if op == "GT" else math.ceil(target)  # type: ignore[attr-defined]
        return ordered
    if op == "BETWEEN":
        def between(oid, p):
            v = stored(p.get(name))
            return v is not None and low <= v <= high
        return between
    if op == "IN":
        return lambda oid, p: stored(p.get(name)) in wanted
    if op == "NOT_IN":
        return lambda oid, p: stored(p.get(name)) not in wanted
    if op == "HAS_PROPERTY":
        return lambda oid, p: p.get(name) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda oid, p: p.get(name) is None

    def has_token(oid, p):
        v = p.get(name)
        if v is None:
            return False
        toks = tokens(v)
        if "*" in pattern:
            return any(fnmatch.fnmatchcase(t, pattern) for t in toks)
        return pattern in toks
    if op == "CONTAINS_TOKEN":
        return has_token
    return lambda oid, p: not has_token(oid, p)


def _assoc_filter(to_type: str, op: str, f: dict, assoc_lookup):
    """``associations.contact`` EQ/IN/NEQ/NOT_IN <id> (facts §1.3)."""
    to_type = to_type if to_type.endswith("s") else to_type + "s"
    if op in ("EQ", "NEQ"):
        wanted = {int(str(f.get("value")))} if str(f.get("value", "")).isdigit() else set()
    elif op in ("IN", "NOT_IN"):
        wanted = {int(str(v)) for v in f.get("values") or [] if str(v).isdigit()}
    else:
        raise _bad(f"Operator {op} is not supported for association filters.")
    negate = op in ("NEQ", "NOT_IN")

    def check(oid, p):
        hit = any(t in wanted for t in assoc_lookup(oid, to_type))
        return hit != negate
    check.live = True  # type: ignore[attr-defined]  # answers from the associations: never cached
    return check


def _sort_spec(sorts, registry):
    if not sorts:
        return None
    if not isinstance(sorts, list):
        raise _bad("sorts must be a list.")
    if len(sorts) > 1:
        raise _bad("Only one sort is allowed per search.")
    s = sorts[0]
    if isinstance(s, str):
        desc, name = s.startswith("-"), s.lstrip("-+")
    elif isinstance(s, dict):
        name = s.get("propertyName")
        direction = str(s.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise _bad(f"Invalid sort direction '{direction}'.")
        desc = direction == "DESCENDING"
    else:
        raise _bad("Invalid sort.")
    prop = registry.get(name) if name else None
    if prop is None:
        raise _bad(f"Cannot sort on unknown property '{name}'.")
    return _Kind(prop.type, name), desc, name


def _text_matcher(query: str, searched: tuple[str, ...]):
    """Every query term must start a token of one of the default searchable properties."""
    terms = [t for t in _TOKEN_SPLIT.split(query.lower()) if t]
    if not terms:
        return None
    boundary = _TOKEN_SPLIT.pattern
    patterns = [re.compile(f"(?:^|{boundary})" + re.escape(term)) for term in terms]

    def match(oid, p):
        text = " ".join(p[n] for n in searched if p.get(n)).lower()
        return bool(text) and all(pat.search(text) for pat in patterns)
    return match


def parse_request(body, registry, assoc_lookup, text_props):
    if not isinstance(body, dict):
        raise _bad("Invalid search request body.")
    limit = body.get("limit", 10)
    try:
        limit = int(limit if limit is not None else 10)
    except (TypeError, ValueError):
        raise _bad("limit must be an integer.") from None
    if limit < 0 or limit > MAX_LIMIT:
        raise _bad(f"limit must be between 0 and {MAX_LIMIT}; got {limit}.")
    after = body.get("after") or 0
    try:
        after = int(str(after))
    except ValueError:
        raise _bad("after must be formatted as an integer.") from None
    if after < 0:
        raise _bad("after must not be negative.")
    if after >= MAX_RESULTS:
        raise _bad(f"The maximum number of results for a search is {MAX_RESULTS}; "
                   f"paging at or past {MAX_RESULTS} (after={after}) is not allowed.")
    query = body.get("query") or ""
    if len(query) > MAX_QUERY:
        raise _bad(f"The query string exceeds the maximum length of {MAX_QUERY} characters.")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise _bad("filterGroups must be a list.")
    if len(groups) > MAX_GROUPS:
        raise _bad(f"Too many filter groups: {len(groups)} (maximum {MAX_GROUPS}).")
    compiled, total_filters = [], 0
    for group in groups:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_PER_GROUP:
            raise _bad(f"Too many filters in a filter group: {len(filters)} (maximum {MAX_PER_GROUP}).")
        total_filters += len(filters)
        compiled.append([_sourced(_compile_filter(f, registry, assoc_lookup), f) for f in filters])
    if total_filters > MAX_FILTERS:
        raise _bad(f"Too many filters: {total_filters} (maximum {MAX_FILTERS} across all groups).")
    sort = _sort_spec(body.get("sorts"), registry)
    text = _text_matcher(query, text_props) if query else None
    return {"limit": limit, "after": after, "groups": compiled, "sort": sort, "text": text, "query": query}


def _sourced(fn, f: dict):
    """The compiled filter, carrying its request text (what the search cache keys on)."""
    fn.source = json.dumps(f, sort_keys=True, default=str)
    return fn


def _keep_fn(groups, text):
    """One predicate for the whole request (OR of ANDs, plus the text query)."""
    if len(groups) == 1 and len(groups[0]) == 1:
        only = groups[0][0]
        base = only
    elif len(groups) == 1:
        filters = groups[0]

        def base(oid, p):
            return all(f(oid, p) for f in filters)
    elif groups:
        def base(oid, p):
            for g in groups:
                for f in g:
                    if not f(oid, p):
                        break
                else:
                    return True
            return False
    else:
        base = None
    if text is None:
        return base
    if base is None:
        return text
    return lambda oid, p: text(oid, p) and base(oid, p)


def _id_floor(groups) -> tuple[int | None, list]:
    """When every group holds an `hs_object_id` GT/GTE filter, the lowest id any group can match
    and the groups without the filters that every id from there on passes; else (None, groups).

    The keyset-paged search (`hs_object_id GT <last id seen>`, sorted by id) then reads from its
    place on, as an index would, instead of testing every object on every page."""
    floors: list[int] = []
    for g in groups:
        found: list[int] = [f.id_floor for f in g if hasattr(f, "id_floor")]
        if not found:
            return None, groups
        floors.append(max(found))
    floor = min(floors)
    return floor, [[f for f in g if not hasattr(f, "id_floor") or f.id_floor > floor] for g in groups]


def _from_floor(store, req, groups, floor: int, keep) -> tuple[list, int]:
    """The matches from id `floor` on, in id order, as (matches, where they start in the list).

    Keyset paging repeats one request with a growing floor. When the floor was the only thing that
    tied the request to an id (no id filter is left in `groups`) and nothing in it reads the
    associations, the matches of the whole index are kept on the store until it changes
    (`ObjectStore.version`): each further page is a bisection, not a scan, as a search index
    answers it."""
    ids, indexed = store.ids, store.indexed
    fixed = all(not hasattr(f, "id_floor") and not hasattr(f, "live") for g in groups for f in g)
    if not fixed:
        return _matching(ids[bisect_left(ids, floor):], indexed, keep), 0
    key = (tuple(tuple(sorted(f.source for f in g)) for g in groups), req["query"], store.version)
    cached = store.search_cache
    if cached is None or cached[0] != key:
        matches = _matching(ids, indexed, keep)
        cached = store.search_cache = (key, [oid for oid, _ in matches], matches)
    _, oids, matches = cached
    return matches, bisect_left(oids, floor)


def _matching(ids, indexed, keep) -> list:
    """(id, properties) of the ids (in their order) that search sees and `keep` accepts (None: all)."""
    if keep is None:
        return [(oid, indexed[oid]) for oid in ids if oid in indexed]
    return [(oid, p) for oid in ids if (p := indexed.get(oid)) is not None and keep(oid, p)]


def execute(store, req) -> tuple[int, list[tuple[int, dict]], int | None]:
    """Run a parsed request over what the search index currently shows."""
    with gc_paused():
        return _execute(store, req)


def _execute(store, req):
    store.catch_up()
    indexed = store.indexed
    groups = [g for g in req["groups"] if g]
    sort = req["sort"]
    after, limit = req["after"], req["limit"]
    if sort and sort[2] == "hs_object_id":
        sort = None if not sort[1] else sort
    floor, groups = _id_floor(groups) if groups and sort is None else (None, groups)
    keep = _keep_fn(groups if all(groups) else [], req["text"])  # a group left empty matches every id
    if floor is not None:
        # live ids are kept ascending; the search index holds a subset of them (indexing lag)
        matches, start = _from_floor(store, req, groups, floor, keep)
        total = len(matches) - start
        page = matches[start + after:start + after + limit]
    elif keep is None and sort is None:
        # the common "everything in id order" case: no need to sort
        ids = store.ids if len(store.ids) == len(indexed) else [i for i in store.ids if i in indexed]
        total = len(ids)
        page = [(oid, indexed[oid]) for oid in ids[after:after + limit]]
    else:
        if keep is None:
            matches = list(indexed.items())
        else:
            matches = [(oid, p) for oid, p in indexed.items() if keep(oid, p)]
        if sort:
            kind, desc, name = sort
            stored = kind.stored
            keyed = [(stored(p.get(name)), oid, p) for oid, p in matches]
            present = [k for k in keyed if k[0] is not None]
            missing = [k for k in keyed if k[0] is None]
            present.sort(key=itemgetter(0, 1), reverse=desc)  # ties by id, in the same direction
            missing.sort(key=itemgetter(1))  # objects without a value come last
            matches = [(oid, p) for _, oid, p in present + missing]
        else:
            matches.sort(key=itemgetter(0))
        total = len(matches)
        page = matches[after:after + limit]
    nxt = after + limit if after + limit < total and limit > 0 else None
    return total, page, nxt
