"""Object state: records per object type, unique-value indexes, the search index
(with optional indexing lag) and associations.

Property dicts are never changed in place: every write swaps in a new dict.  An
old dict is therefore a free snapshot, which is what the lagging search index
keeps until the new version becomes visible.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from typing import ClassVar

from . import errors
from .properties import CREATED, MODIFIED, PropertyRegistry
from .timefmt import iso_from_ms

SINGULAR = {"contacts": "contact", "tasks": "task"}


class Record:
    __slots__ = ("archived_at", "created_at", "id", "props", "updated_at")

    def __init__(self, id_: int, props: dict, created_at: str, updated_at: str) -> None:
        self.id = id_
        self.props = props
        self.created_at = created_at
        self.updated_at = updated_at
        self.archived_at: str | None = None


class ObjectStore:
    """All records of one object type."""

    def __init__(self, object_type: str, registry: PropertyRegistry, clock, lag_seconds, first_id: int) -> None:
        self.type = object_type
        self.registry = registry
        self.clock = clock  # callable returning the clock object
        self.lag_seconds = lag_seconds  # callable -> float
        self.records: dict[int, Record] = {}
        self.archived: dict[int, Record] = {}
        self.ids: list[int] = []  # live ids, ascending
        self.merged_into: dict[int, int] = {}
        self.unique: dict[str, dict[str, int]] = {}
        self.next_id = first_id
        self.indexed: dict[int, dict] = {}  # what search sees
        self.version = 0  # moves whenever what search sees may have changed
        self.search_cache: tuple | None = None  # search.py's last keyset-paged matches
        self._pending: list = []
        self._seq = itertools.count()
        self.modified_prop = MODIFIED[object_type]
        self.created_prop = CREATED[object_type]

    # -- lookups -------------------------------------------------------------
    def resolve(self, raw_id) -> int | None:
        try:
            oid = int(str(raw_id))
        except ValueError:
            return None
        seen = 0
        while oid in self.merged_into and seen < 50:
            oid, seen = self.merged_into[oid], seen + 1
        return oid

    def get(self, raw_id, archived: bool = False) -> Record | None:
        oid = self.resolve(raw_id)
        if oid is None:
            return None
        return self.archived.get(oid) if archived else self.records.get(oid)

    def find_unique(self, prop: str, value) -> Record | None:
        index = self.unique.get(prop)
        if index is None:
            return None
        key = str(value).strip().lower() if prop == "email" else str(value)
        oid = index.get(key)
        if oid is None and prop == "email":
            oid = self.unique.get("hs_additional_emails", {}).get(key)
        return self.records.get(oid) if oid is not None else None

    def lookup(self, raw_id, id_property: str | None) -> Record | None:
        """By record id, or by a unique property when ``idProperty`` is given."""
        if not id_property or id_property == "hs_object_id":
            return self.get(raw_id)
        prop = self.registry.get(id_property)
        if prop is None or not prop.has_unique_value:
            raise errors.validation(f"{id_property} is not a unique identifier property for {self.type}.")
        return self.find_unique(id_property, raw_id)

    # -- uniqueness ------------------------------------------------------------
    def check_unique(self, values: dict, exclude_id: int | None = None, pending: dict | None = None) -> None:
        """Raise 409 if a unique value is taken (by a stored record or, in a batch, by ``pending``)."""
        for name in self.registry.unique_names():
            value = values.get(name)
            if value is None:
                continue
            key = value.lower() if name == "email" else value
            owner = self.unique.get(name, {}).get(key)
            if owner is None and pending is not None:
                owner = pending.get((name, key))
            if owner is not None and owner != exclude_id:
                if isinstance(owner, str):  # an earlier input of the same batch
                    raise errors.validation(f"Duplicate value for unique property {name} in batch inputs: {value}")
                if name == "email":
                    raise errors.conflict(f"Contact already exists. Existing ID: {owner}")
                raise errors.conflict(
                    f"A {SINGULAR[self.type]} with {name} \"{value}\" already exists. Existing ID: {owner}")

    def _index_unique(self, oid: int, old: dict, new: dict) -> None:
        for name in self.registry.unique_names():
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            index = self.unique.setdefault(name, {})
            if before is not None:
                index.pop(before.lower() if name == "email" else before, None)
            if after is not None:
                index[after.lower() if name == "email" else after] = oid

    def add_additional_email(self, oid: int, email: str) -> None:
        self.unique.setdefault("hs_additional_emails", {})[email.lower()] = oid

    # -- writes ----------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock().time() * 1000)

    def create(self, values: dict, *, created_ms: int | None = None, modified_ms: int | None = None,
               index_now: bool = False) -> Record:
        oid = self.next_id
        self.next_id += 1
        now = self.now_ms()
        created = iso_from_ms(now if created_ms is None else created_ms)
        props = {k: v for k, v in values.items() if v is not None}
        if self.created_prop in props:
            created = props[self.created_prop]
        updated = iso_from_ms(now if modified_ms is None else modified_ms)
        props[self.created_prop] = created
        props[self.modified_prop] = updated
        props["hs_object_id"] = str(oid)
        rec = Record(oid, props, created, updated)
        self.records[oid] = rec
        self.ids.append(oid)  # ids only grow, so the list stays sorted
        self._index_unique(oid, {}, props)
        self._reindex(rec, index_now)
        return rec

    def update(self, rec: Record, values: dict, *, now_ms: int | None = None) -> Record:
        now_ms = self.now_ms() if now_ms is None else now_ms
        new = dict(rec.props)
        for k, v in values.items():
            if v is None:
                new.pop(k, None)
            else:
                new[k] = v
        updated = iso_from_ms(now_ms)
        if updated < rec.updated_at:  # a wall clock may step back; keep modified dates monotonic
            updated = rec.updated_at
        new[self.modified_prop] = updated
        self._index_unique(rec.id, rec.props, new)
        rec.props = new
        rec.updated_at = updated
        self._reindex(rec, False)
        return rec

    def archive(self, rec: Record, *, now_ms: int | None = None) -> None:
        now_ms = self.now_ms() if now_ms is None else now_ms
        self._drop_live(rec)
        rec.archived_at = iso_from_ms(now_ms)
        self.archived[rec.id] = rec

    def absorb(self, primary: Record, merged: Record) -> None:
        """``merged`` disappears; its id resolves to ``primary`` from now on."""
        self._drop_live(merged)
        self.merged_into[merged.id] = primary.id
        for other, target in list(self.merged_into.items()):
            if target == merged.id:
                self.merged_into[other] = primary.id

    def _drop_live(self, rec: Record) -> None:
        self.records.pop(rec.id, None)
        pos = bisect_left(self.ids, rec.id)
        if pos < len(self.ids) and self.ids[pos] == rec.id:
            del self.ids[pos]
        self._index_unique(rec.id, rec.props, {})
        self.indexed.pop(rec.id, None)
        self.version += 1

    # -- search index ----------------------------------------------------------
    def _reindex(self, rec: Record, index_now: bool) -> None:
        lag = 0.0 if index_now else float(self.lag_seconds() or 0.0)
        if lag <= 0 and not self._pending:
            self.indexed[rec.id] = rec.props
            self.version += 1
            return
        visible_at = self.clock().monotonic() + max(lag, 0.0)
        heapq.heappush(self._pending, (visible_at, next(self._seq), rec.id, rec.props))

    def catch_up(self) -> None:
        """Make every write whose lag has elapsed visible to search."""
        now = self.clock().monotonic()
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, _, oid, props = heapq.heappop(pending)
            rec = self.records.get(oid)
            if rec is not None:
                self.indexed[oid] = props
                self.version += 1

    # -- listing ---------------------------------------------------------------
    def page(self, after: int | None, limit: int, archived: bool = False) -> tuple[list[Record], int | None]:
        """Records in id order starting at id ``after``; returns (page, next after)."""
        if archived:
            ids = sorted(self.archived)
            source = self.archived
        else:
            ids, source = self.ids, self.records
        start = bisect_left(ids, after) if after is not None else 0
        chunk = ids[start:start + limit + 1]
        nxt = chunk[limit] if len(chunk) > limit else None
        return [source[i] for i in chunk[:limit]], nxt


class AssociationStore:
    """Undirected pairs with a type id per direction (contact->task 203, task->contact 204)."""

    DEFAULT_TYPES: ClassVar[dict[tuple[str, str], int]] = {("contacts", "tasks"): 203, ("tasks", "contacts"): 204}
    LABELS: ClassVar[dict[int, str]] = {203: "contact_to_task", 204: "task_to_contact"}

    def __init__(self) -> None:
        self.edges: dict[tuple[str, int], dict[str, dict[int, set[int]]]] = {}

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        fwd = self.DEFAULT_TYPES[(from_type, to_type)]
        back = self.DEFAULT_TYPES[(to_type, from_type)]
        self.edges.setdefault((from_type, from_id), {}).setdefault(to_type, {}).setdefault(to_id, set()).add(fwd)
        self.edges.setdefault((to_type, to_id), {}).setdefault(from_type, {}).setdefault(from_id, set()).add(back)

    def remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        self.edges.get((from_type, from_id), {}).get(to_type, {}).pop(to_id, None)
        self.edges.get((to_type, to_id), {}).get(from_type, {}).pop(from_id, None)

    def targets(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        return self.edges.get((from_type, from_id), {}).get(to_type, {})

    def move(self, obj_type: str, old_id: int, new_id: int) -> None:
        """Re-point every association of ``old_id`` to ``new_id`` (used by merge)."""
        mine = self.edges.pop((obj_type, old_id), {})
        for to_type, targets in mine.items():
            for to_id in list(targets):
                back = self.edges.get((to_type, to_id), {}).get(obj_type, {})
                back.pop(old_id, None)
                self.add(obj_type, new_id, to_type, to_id)
