"""Table tests for the plan's calendar and capacity semantics: business-day gaps and snoozes,
owner days off on the owner's clock, priority across days, done tasks counting, unowned contacts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sequences.config import Config
from sequences.engine import plan, plan_contact
from sequences.records import (
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
NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY).astimezone(UTC)  # type: ignore[misc]


def config(**overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "calendar": {"timezone": "America/New_York", "country": "US"},
        "pacing": {"horizon": None, "enroll_at_capacity": False},
        "cadences": [{
            "id": "main", "name": "Main",
            "enroll_when": {"all": [{"property": "lifecycle_stage", "equals": "lead"}]},
            "steps": [{"id": "s1", "channel": "call", "subject": "Call"},
                      {"id": "s2", "channel": "call", "subject": "Call again"}],
        }],
    }
    for dotted, value in overrides.items():
        holder = raw
        *path, last = dotted.split(".")
        for part in path:
            holder = holder.setdefault(part, {})
        holder[last] = value
    return Config.model_validate(raw)


def contact(cid: str = "c1", **kw: Any) -> Contact:
    base: dict[str, Any] = dict(id=cid, first_name="Ana", last_name="Lee", email=f"{cid}@x.io", phone="+12125550100",
                                owner_id="o1", timezone="America/New_York", country="US", lifecycle_stage="lead")
    base.update(kw)
    return Contact(**base)


def after_first_step(c: Contact, done_at: datetime, outcome: Outcome | None = None) -> ContactState:
    """Enrolled long ago; the first step's task completed at `done_at` (a touch)."""
    enrolled = done_at - timedelta(days=7)
    e = Enrollment(c.id, "main", 1, 1, EnrollmentStatus.ACTIVE, enrolled, step_index=0, open_task_key="k1",
                   anchor_at=enrolled)
    done = TaskState("k1", c.id, TaskStatus.COMPLETED, completed_at=done_at, outcome=outcome, channel="call")
    return ContactState(c, (e,), (done,), (done_at,))


# ------------------------------------------------------------- business-day minimum gap


@pytest.mark.parametrize(
    ("gap", "touch", "expected"),
    [
        # Friday 15:00 + 2 business days: Monday is the first, Tuesday 15:00 the earliest
        ("2 business days", ny(2026, 3, 6, 15, 0), ny(2026, 3, 10, 15, 0)),
        # the Wednesday before Thanksgiving: Thursday is a holiday, Friday is 1, Monday is 2
        ("2 business days", ny(2026, 11, 25, 11, 0), ny(2026, 11, 30, 11, 0)),
        # Christmas Eve 2026 (Thursday): Christmas, the weekend; Monday 28 is 1, Tuesday 29 is 2
        ("2 business days", ny(2026, 12, 24, 10, 0), ny(2026, 12, 29, 10, 0)),
        # a calendar-day gap still counts calendar time: Friday 15:00 + 1 day = Saturday, so Monday 09:00
        ("1 day", ny(2026, 3, 6, 15, 0), ny(2026, 3, 9, 9, 0)),
        ("20 hours", ny(2026, 3, 9, 15, 0), ny(2026, 3, 10, 11, 0)),
    ],
)
def test_minimum_gap_counts_business_days_over_weekends_and_holidays(gap: str, touch: datetime, expected: datetime) -> None:
    """A business-day min_gap lands on the Nth business day after the last touch (same local time), never sooner."""
    cfg = config(**{"guards.min_gap": gap})
    result = plan_contact(cfg, after_first_step(contact(), touch), touch + timedelta(minutes=30), account="a")
    (task,) = result.creates
    assert task.due_at == expected
    assert any(m.startswith(f"minimum gap of {cfg.guards.min_gap}") for m in task.adjustments)


# ------------------------------------------------------------------ business-day snoozes


@pytest.mark.parametrize(
    ("snooze", "now", "back"),
    [
        ("10 business days", ny(2026, 3, 2, 10, 0), ny(2026, 3, 16, 10, 0)),  # two work weeks, not one day
        ("2 business days", ny(2026, 11, 25, 10, 0), ny(2026, 11, 30, 10, 0)),  # over Thanksgiving
        ("3 days", ny(2026, 3, 2, 10, 0), ny(2026, 3, 5, 10, 0)),
        ("2 weeks", ny(2026, 3, 2, 10, 0), ny(2026, 3, 16, 10, 0)),
        ("4 hours", ny(2026, 3, 2, 10, 0), ny(2026, 3, 2, 14, 0)),
    ],
)
def test_not_now_snooze_lasts_the_configured_duration(snooze: str, now: datetime, back: datetime) -> None:
    """A not_now snooze in business days, days, weeks or hours lasts exactly that long (it used to last one day)."""
    cfg = config(**{"cadences": [{**config().model_dump(mode="json")["cadences"][0], "not_now": {"snooze": snooze}}]})
    state = after_first_step(contact(), now - timedelta(hours=1), Outcome.NOT_NOW)
    result = plan_contact(cfg, state, now, account="a")
    (e,) = result.enrollments or ()
    assert e.status is EnrollmentStatus.SNOOZED and e.snoozed_until == back
    assert not result.creates


# ------------------------------------------------------- owner's day off, owner's clock


@pytest.mark.parametrize(
    ("owner_off", "expected"),
    [
        # Kolkata recruiter off Tuesday: Monday 17:00 in Los Angeles is 06:30 Tuesday in Kolkata,
        # so the call moves to when Wednesday starts in Kolkata: Tuesday 10:30 in Los Angeles
        ("2026-03-03", datetime(2026, 3, 3, 10, 30, tzinfo=LA)),
        # off on Monday in Kolkata: Monday 17:00 in Los Angeles is already Tuesday there, allowed
        ("2026-03-02", datetime(2026, 3, 2, 17, 0, tzinfo=LA)),
        # off Wednesday: nothing to move
        ("2026-03-04", datetime(2026, 3, 2, 17, 0, tzinfo=LA)),
    ],
)
def test_owner_day_off_is_read_on_the_owners_clock(owner_off: str, expected: datetime) -> None:
    """An owner's day off is a date where the owner is, not where the contact is."""
    cfg = config(**{"channels.call": "09:00-18:00"})
    owner = Owner("o1", "Priya", timezone="Asia/Kolkata", days_off=frozenset({datetime.fromisoformat(owner_off).date()}))
    c = contact(timezone="America/Los_Angeles", phone="+13105550100")
    now = datetime(2026, 3, 2, 17, 0, tzinfo=LA)
    (task,) = plan_contact(cfg, ContactState(c), now, account="a", owners={"o1": owner}).creates
    assert task.due_at == expected.astimezone(UTC)
    moved = expected != now
    assert any("the recruiter's day off" in m for m in task.adjustments) is moved


def test_config_owner_days_off_are_read_on_the_owners_clock_too() -> None:
    """calendar.owner_days_off dates are also owner-local."""
    cfg = config(**{"channels.call": "09:00-18:00", "calendar.owner_days_off": {"o1": ["2026-03-03"]}})
    owner = Owner("o1", "Priya", timezone="Asia/Kolkata")
    c = contact(timezone="America/Los_Angeles", phone="+13105550100")
    (task,) = plan_contact(cfg, ContactState(c), datetime(2026, 3, 2, 17, 0, tzinfo=LA), account="a",
                           owners={"o1": owner}).creates
    assert task.due_at == datetime(2026, 3, 3, 10, 30, tzinfo=LA).astimezone(UTC)


# ---------------------------------------------------------------- capacity across days


def _two_priority_config(cap: int) -> Config:
    return Config.model_validate({
        "calendar": {"timezone": "America/New_York", "country": "US"},
        "guards": {"daily_capacity": cap},
        "pacing": {"horizon": None, "enroll_at_capacity": False},
        "cadences": [
            {"id": "low", "name": "Low", "enroll_when": {"all": [{"property": "role", "equals": "low"}]},
             "steps": [{"id": "s", "channel": "email", "priority": "low", "subject": "Low"}]},
            {"id": "high", "name": "High", "enroll_when": {"all": [{"property": "role", "equals": "high"}]},
             "steps": [{"id": "s", "channel": "call", "priority": "high", "wait": "1 business day", "subject": "High"}]},
        ],
    })


@pytest.mark.parametrize("order", ["low first", "high first"])
def test_priority_decides_who_keeps_a_day_across_day_boundaries(order: str) -> None:
    """Cap 1, Monday full: the low task overflowing from Monday does not take the high call's Tuesday."""
    now = ny(2026, 3, 2, 9, 0)
    low = ContactState(contact("a-low", properties={"role": "low"}))
    high = ContactState(contact("b-high", properties={"role": "high"}))
    states = [low, high] if order == "low first" else [high, low]
    snap = Snapshot("a", states, {"o1": Owner("o1", timezone="America/New_York")}, {("o1", "2026-03-02"): 1})
    due = {t.contact_id: t.due_at.astimezone(NY).date().isoformat() for t in plan(_two_priority_config(1), snap, now).creates}
    assert due == {"b-high": "2026-03-03", "a-low": "2026-03-04"}


def test_priority_across_days_for_contacts_already_enrolled() -> None:
    """The same for next steps of running enrollments: the high call keeps Tuesday, the low task takes Wednesday."""
    now = ny(2026, 3, 2, 9, 0)
    cfg = _two_priority_config(1)
    states = []
    for cid, cadence, role in (("a-low", "low", "low"), ("b-high", "high", "high")):
        e = Enrollment(cid, cadence, 1, 1, EnrollmentStatus.ACTIVE, now - timedelta(days=9), step_index=-1,
                       anchor_at=now - timedelta(hours=1))
        states.append(ContactState(contact(cid, properties={"role": role}), (e,)))
    snap = Snapshot("a", states, {"o1": Owner("o1", timezone="America/New_York")}, {("o1", "2026-03-02"): 1})
    due = {t.contact_id: t.due_at.astimezone(NY).date().isoformat() for t in plan(cfg, snap, now).creates}
    assert due == {"b-high": "2026-03-03", "a-low": "2026-03-04"}


def test_capacity_counts_done_tasks_of_the_day() -> None:
    """The day's load the sync hands over counts done tasks; the engine never adds beyond the cap."""
    now = ny(2026, 3, 2, 11, 0)
    cfg = _two_priority_config(2)
    snap = Snapshot("a", [ContactState(contact("x", properties={"role": "low"}))], {"o1": Owner("o1")},
                    {("o1", "2026-03-02"): 2})  # one done at 10:00, one open: the day is full
    (task,) = plan(cfg, snap, now).creates
    assert task.due_at.astimezone(NY).date().isoformat() == "2026-03-03"
    assert any(m.startswith("capacity: o1 already has 2 tasks on Mon 02 Mar 2026") for m in task.adjustments)


# ---------------------------------------------------------------------- unowned contacts


@pytest.mark.parametrize(
    ("policy", "owners", "expect_owner"),
    [
        ("round_robin", ["o1", "o2", "o3"], {"o1", "o2", "o3"}),
        ("o2", ["o1", "o2"], {"o2"}),
        ("round_robin", [], {""}),  # no owners known: the unassigned queue, under the daily cap
        ("report", ["o1"], set()),
    ],
)
def test_unowned_contacts_get_an_owner_and_never_escape_capacity(policy: str, owners: list[str], expect_owner: set[str]) -> None:
    """Unowned contacts go to a default owner, a round robin, or are reported; their tasks stay under the cap."""
    now = ny(2026, 3, 2, 9, 0)
    cfg = config(**{"guards.unowned": policy, "guards.daily_capacity": 2})
    states = [ContactState(contact(f"c{i:02d}", owner_id="")) for i in range(12)]
    result = plan(cfg, Snapshot("a", states, {o: Owner(o) for o in owners}, {}), now)
    assert {t.owner_id for t in result.creates} == expect_owner
    per_day: dict[tuple[str, str], int] = {}
    for t in result.creates:
        slot = (t.owner_id, t.due_at.astimezone(NY).date().isoformat())
        per_day[slot] = per_day.get(slot, 0) + 1
    assert max(per_day.values(), default=0) <= 2
    if policy == "report":
        assert len([n for n in result.notes if n.kind == "unassignable"]) == 12
    else:
        assert len(result.creates) == 12


def test_round_robin_keeps_a_contact_with_the_same_owner() -> None:
    """The round robin is a stable hash of the contact id: the next step goes to the same recruiter."""
    now = ny(2026, 3, 2, 9, 0)
    cfg = config()
    owners = {o: Owner(o) for o in ("o1", "o2", "o3")}
    first = {t.contact_id: t.owner_id for t in
             plan(cfg, Snapshot("a", [ContactState(contact(f"c{i}", owner_id="")) for i in range(9)], owners), now).creates}
    again = {t.contact_id: t.owner_id for t in
             plan(cfg, Snapshot("a", [ContactState(contact(f"c{i}", owner_id="")) for i in reversed(range(9))], owners),
                  now).creates}
    assert first == again and len(set(first.values())) > 1


# ------------------------------------------------- durations: business days or a located no


@pytest.mark.parametrize(
    ("yaml_line", "field", "message"),
    [
        ("guards: {touch_budget: {touches: 3, per: 10 business days}}", "guards.touch_budget.per",
         "counted in days or weeks, not business days"),
        ("guards: {touch_budget: {touches: 3, per: 12 hours}}", "guards.touch_budget.per", "not hours"),
        ("guards: {min_gap: 2 fortnights}", "guards.min_gap", "is not a duration"),
        ("pacing: {horizon: 5 sleeps}", "pacing.horizon", "is not a duration"),
    ],
)
def test_a_duration_unit_that_cannot_be_honoured_is_a_located_problem(tmp_path: Any, yaml_line: str, field: str,
                                                                       message: str) -> None:
    """`cadence check` rejects a unit a setting cannot count, naming file, line and field: never a silent conversion."""
    import subprocess
    import sys

    path = tmp_path / "c.yaml"
    path.write_text(yaml_line + "\ncadences:\n  - {id: a, name: A, steps: [{id: s, channel: call, subject: x}]}\n",
                    encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "connector.cli", "check", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert f"{path}:1:" in text and field in text and message in text and "Traceback" not in text


@pytest.mark.parametrize("setting", ["guards: {min_gap: 2 business days}", "pacing: {horizon: 3 business days}",
                                     "cadences_snooze"])
def test_business_days_are_accepted_wherever_a_duration_is(tmp_path: Any, setting: str) -> None:
    """Waits, gaps, snoozes and the horizon all take business days (the budget's rolling window does not: above)."""
    from connector.configfile import load_config

    snooze = "not_now: {snooze: 10 business days}, " if setting == "cadences_snooze" else ""
    head = "" if setting == "cadences_snooze" else setting + "\n"
    (tmp_path / "c.yaml").write_text(
        head + "cadences:\n  - {id: a, name: A, " + snooze +
        "steps: [{id: s, channel: call, subject: x, wait: 2 business days}]}\n", encoding="utf-8")
    cfg = load_config(tmp_path / "c.yaml").config
    assert cfg.cadences[0].steps[0].wait.business


def test_a_backlog_longer_than_a_year_still_plans() -> None:
    """Unpaced, one owner at 1 a day with 450 contacts: overflow reaches beyond 400 days and the plan still completes."""
    cfg = config(**{"guards.daily_capacity": 1})
    now = ny(2026, 3, 2, 9, 0)
    states = [ContactState(contact(f"c{i:03d}")) for i in range(450)]
    result = plan(cfg, Snapshot("a", states, {"o1": Owner("o1", timezone="America/New_York")}, {}), now)
    dues = sorted(t.due_at for t in result.creates)
    assert len(dues) == 450 and len({d.astimezone(NY).date() for d in dues}) == 450
    assert dues[-1] - now > timedelta(days=400)
