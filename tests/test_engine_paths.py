"""The engine's outcome paths, step progression and guards, on plain data."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sequences.config import Config
from sequences.engine import plan, plan_contact, task_key, thanks_key
from sequences.records import (
    Channel,
    Contact,
    ContactState,
    Enrollment,
    EnrollmentStatus,
    Outcome,
    Owner,
    Snapshot,
    TaskState,
    TaskStatus,
)

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday, 09:00 in New York

CONFIG = Config.model_validate(
    {
        "calendar": {"timezone": "America/New_York", "country": "US"},
        "guards": {"min_gap": "1 day", "touch_budget": {"touches": 3, "per": "7 days"}, "daily_capacity": 2},
        "scripts": {
            "intro": {
                "subject": "Intro call: {{contact.first_name}}",
                "body": "Hi {{contact.first_name}}, {{owner.first_name}} here.",
                "objections": [{"objection": "I don't know of any jobs", "answer": "Who should I speak to?"}],
            },
            "referral": {"subject": "Call {{contact.first_name}} (from {{referrer.full_name}})"},
        },
        "cadences": [
            {
                "id": "outreach",
                "name": "Outreach",
                "enroll_when": {"all": [{"property": "lifecycle_stage", "equals": "lead"}]},
                "steps": [
                    {"id": "call-1", "channel": "call", "script": "intro", "skip_if": ["no_phone"], "priority": "high"},
                    {"id": "email-1", "channel": "email", "wait": "2 business days", "subject": "Following up"},
                    {"id": "call-2", "channel": "call", "wait": "1 week", "subject": "Second call", "skip_if": ["no_phone"]},
                ],
                "not_now": {"snooze": "30 days", "reengage_into": "nurture"},
                "referral_cadence": "referral",
            },
            {"id": "nurture", "name": "Nurture", "steps": [{"id": "checkin", "channel": "email", "subject": "Checking in"}]},
            {"id": "referral", "name": "Referral", "steps": [{"id": "call", "channel": "call", "script": "referral"}]},
        ],
    }
)

OWNER = Owner("o1", "Rita", "Recruiter")


def lead(cid: str = "c1", **kw) -> Contact:
    base = dict(id=cid, first_name="Ana", last_name="Lee", email=f"{cid}@x.io", phone="+12125550100",
                owner_id="o1", timezone="America/New_York", country="US", lifecycle_stage="lead")
    base.update(kw)
    return Contact(**base)


def run(state: ContactState, now: datetime = NOW, load=None):
    snap = Snapshot("acct", [state], {"o1": OWNER}, load or {})
    result = plan(CONFIG, snap, now)
    return result.contacts[0] if result.contacts else None


def enrolled_then_completed(contact: Contact, outcome: Outcome | None = None, done_at: datetime | None = None):
    """The state after enrollment and the first task completed (with an optional outcome)."""
    first = run(ContactState(contact))
    task = first.creates[0]
    done_at = done_at or task.due_at + timedelta(hours=1)
    state = ContactState(contact, enrollments=first.enrollments,
                         tasks=(TaskState(task.key, contact.id, TaskStatus.COMPLETED, completed_at=done_at, outcome=outcome),),
                         touches=(done_at,))
    return first, state, done_at


def test_new_lead_is_enrolled_with_a_call_at_a_local_business_hour():
    """A matching contact enrolls and gets step 1 due now-or-later inside the call window, with the script."""
    p = run(ContactState(lead()))
    assert [n.kind for n in p.notes] == ["enroll"]
    (task,) = p.creates
    assert task.channel is Channel.CALL and task.task_type == "call" and task.priority == "high"
    assert task.due_at == NOW and task.due_local == "2026-03-02T09:00:00-05:00"
    assert "I don't know of any jobs" in task.body and "Rita here" in task.body
    assert task.key == task_key("acct", "c1", "outreach", 1, 1, "call-1")
    assert p.enrollments[0].open_task_key == task.key


def test_contact_not_matching_any_rule_is_left_alone():
    """No enrollment rule matches: nothing is planned."""
    assert run(ContactState(lead(lifecycle_stage="customer"))) is None


def test_open_task_blocks_the_next_step():
    """While the step's task is open, nothing else is planned for the contact."""
    first = run(ContactState(lead()))
    task = first.creates[0]
    state = ContactState(lead(), enrollments=first.enrollments, tasks=(TaskState(task.key, "c1", TaskStatus.OPEN),))
    assert run(state, NOW + timedelta(days=5)) is None


def test_next_step_waits_from_completion_in_business_days():
    """Step 2 lands on the 2nd business day after the completion, at the window's first minute."""
    _, state, done = enrolled_then_completed(lead(), done_at=datetime(2026, 3, 6, 15, tzinfo=UTC))  # Friday
    p = run(state, done)
    (task,) = p.creates
    assert task.step_id == "email-1"
    assert task.due_local == "2026-03-10T09:00:00-04:00"  # Tuesday, after the US DST switch on Mar 8


def test_missing_phone_skips_call_step_and_says_so():
    """A call step with skip_if no_phone is skipped, recorded, and the next step is planned."""
    p = run(ContactState(lead(phone="")))
    assert [(n.kind, n.step_id, n.reason) for n in p.notes][1] == ("skip", "call-1", "no phone number")
    assert p.creates[0].step_id == "email-1"


def test_email_opt_out_skips_email_steps_only():
    """An email opt-out skips the email step; the call steps stay."""
    _, state, done = enrolled_then_completed(lead(opted_out=frozenset({"email"})))
    p = run(state, done)
    assert ("skip", "email-1") in [(n.kind, n.step_id) for n in p.notes]
    assert p.creates[0].step_id == "call-2"


def test_reply_finishes_and_closes_the_open_task():
    """A reply after enrollment finishes the enrollment and closes its open task."""
    first = run(ContactState(lead()))
    task = first.creates[0]
    replied = lead(last_reply_at=NOW + timedelta(hours=2))
    state = ContactState(replied, first.enrollments, (TaskState(task.key, "c1", TaskStatus.OPEN, crm_id="T1"),))
    p = run(state, NOW + timedelta(hours=3))
    assert [c.crm_id for c in p.closes] == ["T1"]
    assert p.enrollments[0].status is EnrollmentStatus.FINISHED
    assert "replied" in p.enrollments[0].reason
    assert not p.creates


@pytest.mark.parametrize(
    "outcome, status",
    [
        (Outcome.CONNECTED, EnrollmentStatus.FINISHED),
        (Outcome.MEETING_BOOKED, EnrollmentStatus.FINISHED),
        (Outcome.DO_NOT_CONTACT, EnrollmentStatus.EXITED),
        (Outcome.WRONG_PERSON, EnrollmentStatus.EXITED),
        (Outcome.OPTED_OUT, EnrollmentStatus.EXITED),
    ],
)
def test_recorded_task_outcome_ends_the_enrollment(outcome, status):
    """An outcome the recruiter records on the completed task ends the enrollment as mapped."""
    _, state, done = enrolled_then_completed(lead(), outcome=outcome)
    p = run(state, done)
    assert p.enrollments[-1].status is status and not p.creates


def test_referral_outcome_continues_the_cadence():
    """A 'referral' outcome keeps the referrer's cadence going (the referred contact enrolls separately)."""
    _, state, done = enrolled_then_completed(lead(), outcome=Outcome.REFERRAL)
    assert run(state, done).creates[0].step_id == "email-1"


def test_not_now_snoozes_then_reengages_into_the_gentler_cadence():
    """'Not now' snoozes for the cool-off, then re-enrolls into the configured nurture cadence."""
    _, state, done = enrolled_then_completed(lead(), outcome=Outcome.NOT_NOW)
    snoozed = run(state, done)
    e = snoozed.enrollments[-1]
    # 30 calendar days on the contact's wall clock (the same local time, across the DST change)
    back_at = (done.astimezone(ZoneInfo("America/New_York")) + timedelta(days=30)).astimezone(UTC)
    assert e.status is EnrollmentStatus.SNOOZED and e.snoozed_until == back_at
    assert not snoozed.creates
    state = replace(state, enrollments=snoozed.enrollments)
    assert run(state, done + timedelta(days=29)) is None
    back = run(state, done + timedelta(days=31))
    assert [n.kind for n in back.notes] == ["finish", "reengage"]
    assert back.enrollments[-1].cadence_id == "nurture" and back.enrollments[-1].seq == 2
    assert back.creates[0].key == task_key("acct", "c1", "nurture", 1, 2, "checkin")


def test_lead_status_change_maps_to_outcome_but_the_baseline_does_not():
    """BAD_TIMING set after enrollment snoozes; a contact already BAD_TIMING at enrollment starts with the
    cool-off (no first call), and that baseline status does not snooze it again."""
    first = run(ContactState(lead()))
    state = ContactState(lead(lead_status="BAD_TIMING"), first.enrollments,
                         (TaskState(first.creates[0].key, "c1", TaskStatus.OPEN),))
    assert run(state).enrollments[-1].status is EnrollmentStatus.SNOOZED
    baseline = run(ContactState(lead(lead_status="BAD_TIMING")))
    assert baseline.creates == () and baseline.enrollments[-1].status is EnrollmentStatus.SNOOZED
    assert run(ContactState(lead(lead_status="BAD_TIMING"), baseline.enrollments), NOW + timedelta(days=29)) is None
    back = run(ContactState(lead(lead_status="BAD_TIMING"), baseline.enrollments), NOW + timedelta(days=31))
    assert back.enrollments[-1].cadence_id == "nurture" and back.creates[0].step_id == "checkin"
    state = ContactState(lead(lead_status="BAD_TIMING"), back.enrollments,
                         (TaskState(back.creates[0].key, "c1", TaskStatus.OPEN),))
    assert run(state, NOW + timedelta(days=32)) is None


@pytest.mark.parametrize("status, ends, evidence", [
    ("UNQUALIFIED", EnrollmentStatus.EXITED, "lead status UNQUALIFIED was already set in the CRM"),
    ("CONNECTED", EnrollmentStatus.FINISHED, "lead status CONNECTED was already set in the CRM"),
    ("BAD_TIMING", EnrollmentStatus.SNOOZED, "lead status BAD_TIMING was already set in the CRM"),
])
def test_a_lead_status_set_before_enrollment_is_honoured(status: str, ends: EnrollmentStatus, evidence: str):
    """A contact the recruiters had already marked (do not contact, connected, not now) gets no first call:
    the status counts as its outcome at enrollment, recorded so that it holds on every later run."""
    p = run(ContactState(lead(lead_status=status)))
    assert p.creates == ()
    (e,) = p.enrollments
    assert e.status is ends and e.reason.startswith(evidence)
    assert run(ContactState(lead(lead_status=status), p.enrollments), NOW + timedelta(hours=1)) is None


def test_an_unmapped_lead_status_enrolls_as_usual():
    p = run(ContactState(lead(lead_status="OPEN")))
    assert [n.kind for n in p.notes] == ["enroll"] and len(p.creates) == 1


def test_do_not_contact_never_enrolls_and_exits_live_enrollments():
    """Do-not-contact contacts are never enrolled, and an enrolled one exits for good."""
    assert run(ContactState(lead(do_not_contact=True))) is None
    first = run(ContactState(lead()))
    state = ContactState(lead(do_not_contact=True), first.enrollments, (TaskState(first.creates[0].key, "c1", TaskStatus.OPEN, crm_id="9"),))
    p = run(state)
    assert p.enrollments[-1].status is EnrollmentStatus.EXITED and p.closes[0].crm_id == "9"


def test_finished_contacts_are_not_enrolled_again():
    """A contact whose enrollment ended is not re-enrolled by the same rule."""
    first = run(ContactState(lead()))
    ended = tuple(replace(e, status=EnrollmentStatus.FINISHED) for e in first.enrollments)
    assert run(ContactState(lead(), ended)) is None


def test_cadence_runs_to_the_end_and_finishes():
    """After the last step's task is completed the enrollment finishes without an answer."""
    contact = lead()
    state, now = ContactState(contact), NOW
    keys = []
    for _ in range(3):
        p = run(state, now)
        task = p.creates[0]
        keys.append(task.step_id)
        now = task.due_at + timedelta(hours=1)
        state = ContactState(contact, p.enrollments, (TaskState(task.key, "c1", TaskStatus.COMPLETED, completed_at=now),),
                             state.touches + (now,))
    p = run(state, now)
    assert keys == ["call-1", "email-1", "call-2"]
    assert p.enrollments[-1].status is EnrollmentStatus.FINISHED and not p.creates


def test_deleted_or_merged_contact_exits_and_closes_its_task():
    """A contact deleted or merged away in the CRM exits, and its open task is closed."""
    first = run(ContactState(lead()))
    task = TaskState(first.creates[0].key, "c1", TaskStatus.OPEN, crm_id="77")
    for gone in (lead(deleted=True), lead(merged_into="c9")):
        p = run(ContactState(gone, first.enrollments, (task,)))
        assert p.enrollments[-1].status is EnrollmentStatus.EXITED and p.closes[0].crm_id == "77"


def test_referred_contact_enrolls_in_referral_cadence_with_referrer_name():
    """A referred contact enrolls in the referral cadence and the script names the referrer."""
    referrer = lead("c1", first_name="Ana", last_name="Lee")
    referred = lead("c2", first_name="Ben", lifecycle_stage="", referred_by="c1")
    p = run(ContactState(referred, referrer=referrer))
    assert p.enrollments[0].cadence_id == "referral" and p.enrollments[0].referrer_id == "c1"
    assert p.creates[0].subject == "Call Ben (from Ana Lee)"


def test_referrer_gets_a_thank_you_task_when_nothing_else_is_open():
    """The referrer gets one thank-you task, keyed by the referred contact, only when no task is open."""
    referred = lead("c2", first_name="Ben", referred_by="c1")
    done = ContactState(lead(), (), (), (), referrals=(referred,))
    p = run(done)
    # a new lead enrolls first; the thank-you waits behind the step task
    assert [t.step_id for t in p.creates] == ["call-1"]
    finished = ContactState(lead(), (Enrollment("c1", "outreach", 1, 1, EnrollmentStatus.FINISHED, NOW),), referrals=(referred,))
    (thanks,) = run(finished).creates
    assert thanks.key == thanks_key("acct", "c1", "c2") and "Ben" in thanks.subject
    already = replace(finished, tasks=(TaskState(thanks.key, "c1", TaskStatus.COMPLETED, completed_at=NOW),))
    assert run(already) is None


def test_min_gap_and_touch_budget_move_the_task_and_say_why():
    """A recent touch pushes the task past the minimum gap; a full budget pushes it until a touch ages out."""
    touches = (NOW - timedelta(hours=2),)
    p = run(ContactState(lead(), touches=touches))
    assert p.creates[0].due_at >= touches[0] + timedelta(days=1)
    assert any("minimum gap" in m for m in p.creates[0].adjustments)
    busy = tuple(NOW - timedelta(days=d) for d in (2, 3, 4))
    p = run(ContactState(lead(), touches=busy))
    assert p.creates[0].due_at >= busy[-1] + timedelta(days=7)
    assert any("touch budget" in m for m in p.creates[0].adjustments)


def test_capacity_moves_overflow_to_the_next_day_in_priority_order():
    """With a cap of 2 a day, the third task moves to the next business day; existing load counts."""
    contacts = [ContactState(lead(f"c{i}")) for i in range(3)]
    result = plan(CONFIG, Snapshot("acct", contacts, {"o1": OWNER}), NOW)
    days = sorted(t.due_local[:10] for t in result.creates)
    assert days == ["2026-03-02", "2026-03-02", "2026-03-03"]
    loaded = plan(CONFIG, Snapshot("acct", contacts[:1], {"o1": OWNER}, {("o1", "2026-03-02"): 2}), NOW)
    assert loaded.creates[0].due_local.startswith("2026-03-03")
    assert any("capacity" in m for m in loaded.creates[0].adjustments)


def plan_text() -> str:
    """One plan as text (run again in fresh processes by the test below)."""
    contacts = [ContactState(lead(f"c{i}", timezone=tz)) for i, tz in enumerate(["Asia/Kolkata", "Europe/Berlin", "", "Bad/Zone"])]
    return repr(plan(CONFIG, Snapshot("acct", contacts, {"o1": OWNER}), NOW))


def test_plan_is_deterministic():
    """The same inputs give a byte-identical plan: twice in this process (warm caches), and in two fresh
    processes with different string hash seeds (no set or dict order leaks into the plan)."""
    here = plan_text()
    assert plan_text() == here
    fresh = [
        subprocess.run([sys.executable, "-c", "import test_engine_paths as t; print(t.plan_text(), end='')"],
                       cwd=Path(__file__).parent, env=os.environ | {"PYTHONHASHSEED": seed},
                       capture_output=True, text=True, timeout=120, check=True).stdout
        for seed in ("1", "2")
    ]
    assert fresh == [here, here]


def test_plan_contact_matches_plan():
    """`plan_contact` gives the same result as a one-contact plan."""
    assert plan_contact(CONFIG, ContactState(lead()), NOW, account="acct", owners={"o1": OWNER}).creates == run(ContactState(lead())).creates


def test_opt_out_after_planning_withdraws_the_open_task_and_moves_on():
    """A task planned for a channel the contact has since opted out of is withdrawn, and the next step planned."""
    _, state, done = enrolled_then_completed(lead())
    p = run(state, done)
    email = p.creates[0]
    opted = ContactState(lead(opted_out=frozenset({"email"})), p.enrollments,
                         state.tasks + (TaskState(email.key, "c1", TaskStatus.OPEN, channel="email"),), state.touches)
    after = run(opted, done + timedelta(hours=1))
    assert [c.key for c in after.closes] == [email.key]
    assert "opted out of email" in after.closes[0].reason
    assert after.creates[0].step_id == "call-2"


def test_remembered_local_answers_tell_the_two_readings_of_an_ambiguous_wall_time_apart() -> None:
    """01:30 on the night clocks go back happens twice; the two compare and hash equal in
    Python, yet are an hour apart: the calendar's remembered answers must not mix them up."""
    from sequences.calendar import local_day, local_text

    ny = ZoneInfo("America/New_York")
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ny)
    second = first.replace(fold=1)
    assert first == second and hash(first) == hash(second)  # why the fold is part of the key
    assert local_text(first, "UTC") == "2026-11-01T05:30:00+00:00"
    assert local_text(second, "UTC") == "2026-11-01T06:30:00+00:00"
    late = datetime(2026, 11, 1, 23, 30, tzinfo=ny)  # 04:30 UTC the next day
    assert local_day(late, "UTC").isoformat() == "2026-11-02"


def test_an_owner_deleted_in_the_crm_is_handled_as_unowned():
    """A contact whose owner is no longer one of the CRM's users is handled by `guards.unowned` (round robin
    by default) and the run says so; it is never left with tasks nobody sees."""
    p = run(ContactState(lead(owner_id="o9")))
    (task,) = p.creates
    assert task.owner_id == "o1"
    assert [n.reason for n in p.notes if n.kind == "owner"] == [
        "owner o9 is not a user of the CRM any more: tasks go by guards.unowned (round_robin); give the contact an owner"]
    reported = plan(CONFIG.model_copy(update={"guards": CONFIG.guards.model_copy(update={"unowned": "report"})}),
                    Snapshot("acct", [ContactState(lead(owner_id="o9"))], {"o1": OWNER}, {}), NOW).contacts[0]
    assert reported.creates == () and "unassignable" in [n.kind for n in reported.notes]
