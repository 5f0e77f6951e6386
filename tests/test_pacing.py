"""Enrollment pacing, the task horizon and unreachable contacts, on plain data."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sequences.config import Config
from sequences.engine import plan
from sequences.keys import UNREACHABLE_STEP
from sequences.records import (
    Contact,
    ContactState,
    Enrollment,
    EnrollmentStatus,
    Owner,
    Plan,
    Snapshot,
    TaskState,
    TaskStatus,
)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=NY).astimezone(UTC)
OWNERS = {"o1": Owner("o1", "Rita", timezone="America/New_York")}


def config(**pacing: Any) -> Config:
    return Config.model_validate({
        "calendar": {"timezone": "America/New_York", "country": "US"},
        "guards": {"daily_capacity": 1, "min_gap": "0 days"},
        "pacing": pacing,
        "cadences": [
            {"id": "main", "name": "Main", "enroll_when": {"all": [{"property": "lifecycle_stage", "equals": "lead"}]},
             "referral_cadence": "warm",
             "steps": [{"id": "call", "channel": "call", "subject": "Call", "skip_if": ["no_phone"]},
                       {"id": "email", "channel": "email", "wait": "2 weeks", "subject": "Email", "skip_if": ["no_email"]}]},
            {"id": "warm", "name": "Warm", "steps": [{"id": "call", "channel": "call", "subject": "Call",
                                                      "skip_if": ["no_phone"]}]},
        ],
    })


def lead(cid: str, **kw: Any) -> Contact:
    base: dict[str, Any] = dict(id=cid, first_name="Lena", last_name="Ng", email=f"{cid}@x.io", phone="+12125550100",
                                owner_id="o1", timezone="America/New_York", country="US", lifecycle_stage="lead")
    base.update(kw)
    return Contact(**base)


def run(cfg: Config, states: list[ContactState], now: datetime = MONDAY, load: dict | None = None) -> Plan:
    return plan(cfg, Snapshot("a", states, OWNERS, load or {}), now)


def enrollment_of(result: Plan, cid: str) -> Enrollment:
    cp = next(c for c in result.contacts if c.contact_id == cid)
    assert cp.enrollments is not None
    return cp.enrollments[-1]


# ----------------------------------------------------------------------------- pacing


def test_new_enrollments_start_at_the_pace_capacity_allows_and_the_rest_queue() -> None:
    """Cap 1 a day, a 5-business-day horizon: 5 contacts start this week, the others wait as queued."""
    result = run(config(), [ContactState(lead(f"c{i:02d}")) for i in range(12)])
    started = sorted(t.contact_id for t in result.creates)
    assert started == [f"c{i:02d}" for i in range(5)]
    queued = [c for c in result.contacts if c.enrollments and c.enrollments[-1].status is EnrollmentStatus.QUEUED]
    assert len(queued) == 7
    assert all(n.kind == "queue" and "waits for free capacity of o1" in n.reason for c in queued for n in c.notes)
    assert max(t.due_at for t in result.creates) < MONDAY + timedelta(days=5)


def test_queue_order_referrals_and_reengagements_first_then_oldest_first() -> None:
    """The documented order: referrals and re-engagements, then by when queued (oldest first), then by id."""
    referrer = lead("r0", first_name="Grace", last_name="Kim")
    old_queue = [Enrollment(f"q{i}", "main", 1, 1, EnrollmentStatus.QUEUED, MONDAY - timedelta(days=10 - i),
                            reason="queued: matches", queue_key=f"1:{int((MONDAY - timedelta(days=10 - i)).timestamp()):012d}:q{i}",
                            owner_id="o1") for i in range(3)]
    snoozed = Enrollment("s1", "main", 1, 1, EnrollmentStatus.SNOOZED, MONDAY - timedelta(days=100),
                         snoozed_until=MONDAY - timedelta(days=1), reengage_into="main", ended_at=MONDAY - timedelta(days=91))
    states = (
        [ContactState(lead(f"n{i}")) for i in range(3)]  # brand new: queued now, last
        + [ContactState(lead(e.contact_id), (e,)) for e in reversed(old_queue)]
        + [ContactState(lead("s1"), (snoozed,))]
        + [ContactState(lead("z-ref", referred_by="r0"), referrer=referrer)]
    )
    result = run(config(), states)
    started = [t.contact_id for t in sorted(result.creates, key=lambda t: t.due_at)]
    assert set(started) == {"s1", "z-ref", "q0", "q1", "q2"}
    assert [t.contact_id for t in sorted(result.creates, key=lambda t: t.due_at)][:2] in (["s1", "z-ref"], ["z-ref", "s1"])
    assert [t.contact_id for t in sorted(result.creates, key=lambda t: t.due_at)][2:] == ["q0", "q1", "q2"]
    assert all(enrollment_of(result, f"n{i}").status is EnrollmentStatus.QUEUED for i in range(3))


def test_newest_first_order_is_configurable() -> None:
    """enroll_order: newest_first starts the most recently queued first."""
    queue = [Enrollment(f"q{i}", "main", 1, 1, EnrollmentStatus.QUEUED, MONDAY - timedelta(days=10 - i),
                        reason="queued: x", owner_id="o1") for i in range(7)]
    cfg = config(enroll_order="newest_first")
    from sequences.pacing import queue_key

    queue = [Enrollment(**{**{f: getattr(e, f) for f in e.__slots__},
                           "queue_key": queue_key(False, e.enrolled_at, e.contact_id, "newest_first")}) for e in queue]
    result = run(cfg, [ContactState(lead(e.contact_id), (e,)) for e in queue])
    assert sorted(t.contact_id for t in result.creates) == ["q2", "q3", "q4", "q5", "q6"]


def test_queued_contacts_cost_nothing_until_started_and_leave_when_they_stop_matching() -> None:
    """A queued contact that no longer matches leaves the queue; one marked do not contact exits."""
    queued = Enrollment("c1", "main", 1, 1, EnrollmentStatus.QUEUED, MONDAY, reason="queued: x", queue_key="1:0:c1",
                        owner_id="o1")
    full = {("o1", (MONDAY + timedelta(days=d)).astimezone(NY).date().isoformat()): 1 for d in range(10)}
    gone = run(config(), [ContactState(lead("c1", lifecycle_stage="customer"), (queued,))], load=full)
    assert gone.contacts[0].enrollments == () and gone.contacts[0].notes[0].kind == "dequeue"
    stop = run(config(), [ContactState(lead("c1", do_not_contact=True), (queued,))], load=full)
    assert enrollment_of(stop, "c1").status is EnrollmentStatus.EXITED and not stop.creates
    wait = run(config(), [ContactState(lead("c1"), (queued,))], load=full)
    assert wait.contacts == () or wait.contacts[0].enrollments is None  # nothing changed: nothing to write


# ---------------------------------------------------------------------------- horizon


def test_tasks_beyond_the_horizon_wait_in_state_and_are_pushed_in_time() -> None:
    """A step due in two weeks is planned in state; it is pushed once within the horizon, never after its due time."""
    cfg = config(enroll_at_capacity=False)
    e = Enrollment("c1", "main", 1, 1, EnrollmentStatus.ACTIVE, MONDAY - timedelta(days=3), step_index=0,
                   open_task_key="k1", anchor_at=MONDAY - timedelta(days=3))
    done = TaskState("k1", "c1", TaskStatus.COMPLETED, completed_at=MONDAY - timedelta(hours=1))
    state = ContactState(lead("c1"), (e,), (done,), (MONDAY - timedelta(hours=1),))
    first = run(cfg, [state])
    assert not first.creates
    waiting = enrollment_of(first, "c1")
    assert waiting.open_task_key == "" and waiting.next_due_at is not None and waiting.wake_at is not None
    assert waiting.wake_at <= waiting.next_due_at  # the horizon never delays a task past its due time
    assert waiting.next_due_at.astimezone(NY).date().isoformat() == "2026-03-16"
    assert waiting.wake_at.astimezone(NY).date().isoformat() == "2026-03-09"  # 5 business days before
    assert [n.kind for n in first.notes] == ["plan"] and "beyond the 5 business days horizon" in first.notes[0].reason
    # a run before the wake time plans it in state again; at the wake time it is pushed, due as planned
    later = ContactState(state.contact, (waiting,), state.tasks, state.touches)
    assert not run(cfg, [later], now=waiting.wake_at - timedelta(minutes=1)).creates
    (task,) = run(cfg, [later], now=waiting.wake_at).creates
    assert task.due_at == waiting.next_due_at and task.step_id == "email"


def test_no_horizon_pushes_everything() -> None:
    """pacing.horizon: null pushes a task however far out it is due."""
    cfg = config(enroll_at_capacity=False, horizon=None)
    e = Enrollment("c1", "main", 1, 1, EnrollmentStatus.ACTIVE, MONDAY, step_index=0, open_task_key="k1", anchor_at=MONDAY)
    done = TaskState("k1", "c1", TaskStatus.COMPLETED, completed_at=MONDAY)
    (task,) = run(cfg, [ContactState(lead("c1"), (e,), (done,))]).creates
    assert task.due_at > MONDAY + timedelta(days=13)


# ----------------------------------------------------------------------- unreachable


def test_unreachable_contact_gets_one_todo_for_the_owner_then_exits_with_its_reason() -> None:
    """Every step skipped (no phone, no email): one to-do to find a way to reach them; still nothing: exit."""
    cfg = config(enroll_at_capacity=False)
    lena = lead("c1", phone="", email="")
    first = run(cfg, [ContactState(lena)])
    (todo,) = first.creates
    assert todo.step_id == UNREACHABLE_STEP and todo.channel.value == "todo" and todo.owner_id == "o1"
    assert todo.subject == "Find a phone number or email for Lena Ng"
    e = enrollment_of(first, "c1")
    assert e.status is EnrollmentStatus.ACTIVE and e.open_task_key == todo.key
    assert any(n.kind == "unreachable" for n in first.notes)
    # the recruiter marks it done without adding anything: the enrollment ends with its own reason
    done = TaskState(todo.key, "c1", TaskStatus.COMPLETED, completed_at=MONDAY + timedelta(hours=3))
    second = run(cfg, [ContactState(lena, (e,), (done,))], now=MONDAY + timedelta(hours=4))
    ended = enrollment_of(second, "c1")
    assert ended.status is EnrollmentStatus.EXITED
    assert ended.reason == "unreachable: no phone number, no email address"
    # ... and when they add a phone number, the cadence starts again
    again = run(cfg, [ContactState(lead("c1", email=""), (e,), (done,))], now=MONDAY + timedelta(hours=4))
    assert [t.step_id for t in again.creates] == ["call"]


def test_referral_with_only_a_name_names_the_referrer() -> None:
    """A referral with only a name: the to-do says who referred them."""
    referrer = lead("r0", first_name="Grace", last_name="Kim")
    (todo,) = run(config(), [ContactState(lead("c1", phone="", email="", referred_by="r0"), referrer=referrer)]).creates
    assert todo.subject == "Find a phone number or email for Lena Ng, referred by Grace Kim"


@pytest.mark.parametrize("setting", ["exit", "todo"])
def test_unreachable_exit_setting_and_opt_outs_end_with_their_reason(setting: str) -> None:
    """unreachable: exit ends at once; a contact opted out of every channel used is never given a to-do."""
    cfg = Config.model_validate({**config(enroll_at_capacity=False).model_dump(mode="json"), "unreachable": setting})
    if setting == "exit":
        result = run(cfg, [ContactState(lead("c1", phone="", email=""))])
        assert enrollment_of(result, "c1").reason == "unreachable: no phone number, no email address"
    else:
        result = run(cfg, [ContactState(lead("c1", opted_out=frozenset({"call", "email"})))])
        assert enrollment_of(result, "c1").reason == "unreachable: opted out of call, opted out of email"
    assert not result.creates and enrollment_of(result, "c1").status is EnrollmentStatus.EXITED
