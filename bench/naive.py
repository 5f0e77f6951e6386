"""The naive baseline: what a straightforward script with `hubspot-api-client` would send.

It reads every contact page by page at the client's default page size (10), then creates
each task with its own request (`crm.objects.tasks.basic_api.create`) and associates it
with its contact in a second request (`crm.associations.v4.basic_api.create_default`).
No planning, no state, no batching: the same tasks the sync created, replayed one by one
against a fresh emulator seeded identically (see `bench/run.py`).

    tasks = tasks_from(emulator_after_sync)        # [(properties, contact_id), ...]
    result = run_naive(base_url, token, tasks)     # requests and wall time
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

# set by HubSpot, or by the emulator on create: not part of what a client sends
_SERVER_SET = {"hs_createdate", "hs_lastmodifieddate", "hs_object_id", "hs_task_completion_date"}


def tasks_from(emu: Any) -> list[tuple[dict[str, str], str]]:
    """(properties, contact id) of every task in an emulator, oldest first."""
    tasks = []
    for task_id in sorted(int(i) for i in emu.state.stores["tasks"].records):
        props = {k: v for k, v in (emu.get_task(task_id) or {}).items() if k not in _SERVER_SET and v is not None}
        contacts = emu.contacts_for_task(task_id)
        tasks.append((props, contacts[0] if contacts else ""))
    return tasks


def run_naive(base_url: str, token: str, tasks: Sequence[tuple[dict[str, str], str]],
              properties: Sequence[str] = ()) -> dict[str, Any]:
    """Read all contacts (default page size), then create + associate each task: 2 requests a task."""
    from hubspot import HubSpot
    from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate

    client = HubSpot(access_token=token, host=base_url, base_url=base_url)
    contacts_api = client.crm.contacts.basic_api  # each accessor builds a client: take each once
    tasks_api = client.crm.objects.tasks.basic_api
    assoc_api = client.crm.associations.v4.basic_api
    requests = {"read_pages": 0, "task_creates": 0, "associations": 0}
    started = time.perf_counter()

    contacts, after = 0, None
    while True:
        kwargs: dict[str, Any] = {"archived": False}
        if properties:
            kwargs["properties"] = list(properties)
        if after:
            kwargs["after"] = after
        page = contacts_api.get_page(**kwargs)  # the client's default limit: 10 a page
        requests["read_pages"] += 1
        contacts += len(page.results or [])
        after = page.paging.next.after if page.paging and page.paging.next else None
        if not after:
            break
    read_s = time.perf_counter() - started

    for props, contact_id in tasks:
        created = tasks_api.create(SimplePublicObjectInputForCreate(properties=props, associations=[]))
        requests["task_creates"] += 1
        if contact_id:
            assoc_api.create_default(from_object_type="tasks", from_object_id=created.id,
                                     to_object_type="contacts", to_object_id=contact_id)
            requests["associations"] += 1
    wall = time.perf_counter() - started
    total = sum(requests.values())
    return {"contacts_read": contacts, "tasks": len(tasks), "requests": total, "requests_by_kind": requests,
            "wall_s": round(wall, 3), "read_s": round(read_s, 3), "write_s": round(wall - read_s, 3)}
