"""The competent-script baseline: what a competent engineer writes with `hubspot-api-client`.

About 50 lines of ordinary, good code: every contact read with the client's own
`crm.contacts.get_all(properties=[...])` (pages of 100, the most the list endpoint gives),
then the tasks created with `crm.objects.tasks.batch_api.create`, 100 a request, each with
its association to the contact inline (no separate association call). What it does not
have is what crm-cadence is for: no state, no task keys, no idempotency. Nothing tells a
second run what the first one created, so a rerun (a cron retry, a crash half way, a
deploy that runs it twice) creates every task again; nothing resumes a partial run;
nothing guards capacity, deletions or merges.

`bench/run.py`'s `naive` part replays exactly the tasks the sync created (like
`bench/naive.py`) against a fresh emulator seeded identically, and runs it twice to show
the duplicates:

    tasks = naive.tasks_from(emulator_after_sync)       # [(properties, contact_id), ...]
    result = run_competent(base_url, token, tasks, properties)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

BATCH = 100  # HubSpot's limit for a batch create
TASK_TO_CONTACT = 204  # HUBSPOT_DEFINED association type: task -> contact
# crm-cadence's own task properties (its key and enrollment): a stateless script has neither, so the
# replayed tasks go without them (the key is unique in HubSpot: with it, a rerun would be refused)
STATE_PROPERTIES = ("crm_cadence_key", "crm_cadence_enrollment")


def run_competent(base_url: str, token: str, tasks: Sequence[tuple[dict[str, str], str]],
                  properties: Sequence[str] = ()) -> dict[str, Any]:
    """Read every contact with `get_all`, then batch-create the tasks with inline associations."""
    from hubspot import HubSpot
    from hubspot.crm.objects.tasks import (
        AssociationSpec,
        BatchInputSimplePublicObjectBatchInputForCreate,
        PublicAssociationsForObject,
        PublicObjectId,
        SimplePublicObjectBatchInputForCreate,
    )

    client = HubSpot(access_token=token, host=base_url, base_url=base_url)
    started = time.perf_counter()

    # 1. every contact, 100 a page (the client pages for us)
    contacts = client.crm.contacts.get_all(properties=list(properties)) if properties else client.crm.contacts.get_all()
    read_s = time.perf_counter() - started

    # 2. the tasks, 100 a request, each associated with its contact in the same request
    def task_input(props: dict[str, str], contact_id: str) -> SimplePublicObjectBatchInputForCreate:
        to = [PublicAssociationsForObject(to=PublicObjectId(id=contact_id), types=[
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_CONTACT)])]
        plain = {k: v for k, v in props.items() if k not in STATE_PROPERTIES}
        return SimplePublicObjectBatchInputForCreate(properties=plain, associations=to if contact_id else [])

    batches = created = 0
    batch_api = client.crm.objects.tasks.batch_api
    for start in range(0, len(tasks), BATCH):
        chunk = [task_input(props, contact_id) for props, contact_id in tasks[start : start + BATCH]]
        answer = batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=chunk))
        batches += 1
        created += len(answer.results or [])
    wall = time.perf_counter() - started

    # the requests themselves are counted by the emulator's log (get_all's pages are not visible here)
    return {"contacts_read": len(contacts), "tasks": len(tasks), "created": created, "batch_creates": batches,
            "wall_s": round(wall, 3), "read_s": round(read_s, 3), "write_s": round(wall - read_s, 3)}
