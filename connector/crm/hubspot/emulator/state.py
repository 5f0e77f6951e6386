"""The portal's data: object stores, property registries, associations, owners,
tokens; and how records are rendered as JSON."""

from __future__ import annotations

import secrets

from . import errors
from .clock import SystemClock
from .properties import ALWAYS, DEFAULTS, PropertyRegistry
from .store import AssociationStore, ObjectStore
from .timefmt import iso_from_ms

OBJECT_TYPES = ("contacts", "tasks")
TYPE_ALIASES = {"contacts": "contacts", "contact": "contacts", "0-1": "contacts",
                "tasks": "tasks", "task": "tasks", "0-27": "tasks"}
TYPE_IDS = {"contacts": "0-1", "tasks": "0-27"}
ID_NAMES = {"contacts": "contactId", "tasks": "taskId"}
FIRST_IDS = {"contacts": 101, "tasks": 50_000_000_001}  # disjoint ranges catch id mix-ups
OAUTH_TTL_SECONDS = 1800


def object_type(raw: str) -> str:
    t = TYPE_ALIASES.get(raw.lower())
    if t is None:
        raise errors.validation(f"Unable to infer object type from: {raw}")
    return t


class OAuthState:
    """Client credentials, refresh tokens and the access tokens minted from them."""

    def __init__(self) -> None:
        self.client_id = "emulator-client-id"
        self.client_secret = "emulator-client-secret"
        self.refresh_tokens: set[str] = {"emulator-refresh-token"}
        self.access_tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.ttl_seconds = OAUTH_TTL_SECONDS

    def mint(self, now: float) -> str:
        token = "emu-oauth-" + secrets.token_hex(12)
        self.access_tokens[token] = now + self.ttl_seconds
        return token


class State:
    def __init__(self, clock=None, hub_id: int = 24_681_357, lag_seconds=lambda: 0.0) -> None:
        self.clock = clock or SystemClock()
        self.hub_id = hub_id
        self.owners: list[dict] = []
        self.owners_by_id: dict[str, dict] = {}
        self.registries = {t: PropertyRegistry(t, owner_exists=self.owner_exists) for t in OBJECT_TYPES}
        self.stores = {t: ObjectStore(t, self.registries[t], lambda: self.clock, lag_seconds,
                                      FIRST_IDS[t]) for t in OBJECT_TYPES}
        self.assoc = AssociationStore()
        self.oauth = OAuthState()
        self.tokens: set[str] = {"emulator-token"}
        self.shuffle_batch_results = False
        self.base_url = ""

    # -- helpers -----------------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def now_iso(self) -> str:
        return iso_from_ms(self.now_ms())

    def owner_exists(self, owner_id: str) -> bool:
        return owner_id in self.owners_by_id

    def live_targets(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        store = self.stores[to_type]
        return {t: types for t, types in self.assoc.targets(from_type, from_id, to_type).items()
                if t in store.records}

    # -- rendering -----------------------------------------------------------------
    def render(self, obj_type: str, rec, props: list[str] | None = None, *, all_props: bool = False,
               history: list[str] | None = None, associations: list[str] | None = None,
               trace_id: str | None = None, source: dict | None = None) -> dict:
        values = rec.props if source is None else source
        if all_props:
            shown = dict(values)
        else:
            registry = self.registries[obj_type]
            names = list(props) if props else list(DEFAULTS[obj_type])
            shown = {n: values.get(n) for n in names if n in registry.props}
            for n in ALWAYS[obj_type]:
                shown[n] = values.get(n)
        out = {"id": str(rec.id), "properties": shown, "createdAt": rec.created_at,
               "updatedAt": values.get(self.stores[obj_type].modified_prop, rec.updated_at),
               "archived": rec.archived_at is not None}
        if rec.archived_at is not None:
            out["archivedAt"] = rec.archived_at
        if history:
            out["propertiesWithHistory"] = {
                n: ([{"value": values[n], "timestamp": rec.updated_at, "sourceType": "API"}]
                    if values.get(n) is not None else [])
                for n in history}
        if associations:
            assoc_out = {}
            for to_raw in associations:
                to_type = TYPE_ALIASES.get(to_raw.lower())
                if to_type is None or to_type == obj_type:
                    continue
                targets = self.live_targets(obj_type, rec.id, to_type)
                if targets:
                    label = f"{obj_type[:-1]}_to_{to_type[:-1]}"
                    assoc_out[to_type] = {"results": [{"id": str(t), "type": label} for t in sorted(targets)]}
            if assoc_out:
                out["associations"] = assoc_out
        if trace_id:
            out["objectWriteTraceId"] = trace_id
        return out
