"""What a task carries of its enrollment, so a lost state can be rebuilt from the CRM.

Every task crm-cadence writes holds its key (the idempotency) and, beside it, one small
JSON text (a HubSpot task property, a tasks.csv column, ...):

    {"a":"hubspot:123","c":"outreach","ch":"call","ct":"901","e":1772456400,"i":0,
     "lb":"NEW","r":"","s":1,"st":"intro-call","v":1,"x":1}

account (`a`), contact (`ct`), cadence (`c`), version (`v`), enrollment seq (`s`), step index
(`i`) and id (`st`), channel (`ch`), when the enrollment started (`e`, epoch seconds), the
lead status at enrollment (`lb`: only a change of it is an outcome), the referrer (`r`), and
the format's version (`x`). JSON, not a positional encoding: it names its fields, survives a
spreadsheet, and a later version can add fields that older readers ignore. Under 300 bytes.

The key is a hash of (account, contact, cadence, version, seq, step): `parse` checks that the
text matches its key, so an edited or copied value is never trusted.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sequences.keys import task_key, thanks_key
from sequences.rebuild import TaskRecord
from sequences.records import Channel, CreateTask, TaskState

FORMAT = 1


def encode(task: CreateTask) -> str:
    """The enrollment text of a task about to be written."""
    data = {
        "x": FORMAT, "a": task.account, "ct": task.contact_id, "c": task.cadence_id, "v": task.version, "s": task.seq,
        "i": task.step_index, "st": task.step_id, "ch": task.channel.value,
        "e": int(task.enrolled_at.timestamp()) if task.enrolled_at else None,
        "lb": task.baseline_lead_status, "r": task.referrer_id,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse(text: str, state: TaskState) -> TaskRecord | None:
    """The task with its enrollment, or None when the text is missing, unreadable or not this key's."""
    if not text or not text.strip():
        return None
    try:
        d = json.loads(text)
        account, contact, cadence = str(d["a"]), str(d["ct"]), str(d["c"])
        version, seq, index, step = int(d["v"]), int(d["s"]), int(d["i"]), str(d["st"])
        channel = Channel(d.get("ch") or "todo")
        enrolled = datetime.fromtimestamp(int(d["e"]), timezone.utc) if d.get("e") is not None else None
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    if cadence == "thanks":
        expected = thanks_key(account, contact, step.removeprefix("thanks-"))
    else:
        expected = task_key(account, contact, cadence, version, seq, step)
    if expected != state.key:
        return None
    return TaskRecord(
        task=state if state.contact_id else _with_contact(state, contact), account=account, cadence_id=cadence,
        version=version, seq=seq, step_index=index, step_id=step, channel=channel, enrolled_at=enrolled,
        baseline_lead_status=str(d.get("lb") or ""), referrer_id=str(d.get("r") or ""),
    )


def _with_contact(state: TaskState, contact: str) -> TaskState:
    from dataclasses import replace

    return replace(state, contact_id=contact)
