"""The cadence config: pydantic models for the YAML a recruiting team keeps in git.

Validation here is pure. Reading files (the YAML itself, Markdown script bodies) is the
shell's job: `connector.configfile` reads them and hands the text in.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays as _holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .durations import Duration, Window, parse_duration, parse_window
from .names import did_you_mean
from .records import Channel, Outcome
from .references import REFERENCE_ERROR as REFERENCE_ERROR  # re-exported (connector.configlocate reads it here)
from .references import reference_error
from .references import reference_problems as reference_problems  # re-exported (connector.configfile reads it here)
from .templates import check_template

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TCPA_CALL_WINDOW = "08:00-21:00"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_timezone(value: str) -> str:
    if not value:
        return value
    try:
        if len(value) > 64:
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(value, available_timezones()) or " (use an IANA name such as 'Europe/Berlin')"
        raise ValueError(f"unknown time zone {value!r}{hint}") from None
    return value


def _check_country(value: str) -> str:
    if not value:
        return value
    code = value.upper()
    if code not in _holidays.list_supported_countries():
        raise ValueError(f"unknown or unsupported country code {value!r} (use ISO 3166-1 alpha-2, e.g. 'US', 'GB', 'DE')")
    return code


# A duration is parsed once, when the config is loaded: the models hold `Duration` values
# (written back as their text), so every use counts it the same way.
DurationText = Annotated[
    Duration,
    PlainValidator(parse_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}],
                    "description": "e.g. '2 business days', '3 days', '1 week', '4 hours'",
                    "examples": ["2 business days"]}),
]
WindowText = Annotated[str, Field(description="local wall-clock window 'HH:MM-HH:MM'", examples=["09:00-17:00"])]


class Calendar(_Model):
    """Defaults for every contact; each contact's own zone and country win when known."""

    timezone: str = Field("America/New_York", description="IANA zone used when a contact's zone cannot be found")
    country: str = Field("US", description="ISO country code for holidays when a contact's country is unknown")
    subdivision: str = Field("", description="state/region code for regional holidays, e.g. 'CA' or 'BY'")
    work_days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ("mon", "tue", "wed", "thu", "fri")
    working_hours: WindowText = "09:00-17:00"
    owner_days_off: dict[str, list[date]] = Field(default_factory=dict, description="owner id -> dates the owner is off")

    _tz = field_validator("timezone")(lambda cls, v: _check_timezone(v))
    _cc = field_validator("country")(lambda cls, v: _check_country(v))

    @model_validator(mode="after")
    def _subdivision(self) -> Calendar:
        if self.subdivision:
            known = _holidays.country_holidays(self.country).subdivisions
            if self.subdivision.upper() not in known:
                raise ValueError(
                    f"subdivision {self.subdivision!r} is not a region of {self.country} "
                    f"(known: {', '.join(sorted(known)[:12])}{'...' if len(known) > 12 else ''})"
                )
        return self

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, v: str) -> str:
        parse_window(v)
        return v

    @field_validator("work_days")
    @classmethod
    def _days(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one work day is needed")
        return v


class Channels(_Model):
    """Per-channel windows (contact-local). Calls can never leave 08:00-21:00."""

    call: WindowText = Field(TCPA_CALL_WINDOW, description="narrowed to fit inside 08:00-21:00 (TCPA calling hours)")
    email: WindowText | None = Field(None, description="default: the calendar's working hours")
    linkedin: WindowText | None = None
    meeting: WindowText | None = None
    todo: WindowText | None = None

    @field_validator("call", "email", "linkedin", "meeting", "todo")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        """Each window checked on its own, so a bad one is reported at its key (channels.email)."""
        if value is not None:
            parse_window(value)
        return value


class TouchBudget(_Model):
    touches: int = Field(4, ge=1, le=1_000, description="at most this many touches...")
    per: DurationText = Field("14 days", validate_default=True, description="...in any rolling window this long (days or weeks)")

    @field_validator("per")
    @classmethod
    def _per(cls, v: Duration) -> Duration:
        if v.unit not in ("days", "weeks"):
            raise ValueError(f"the budget's rolling window is counted in days or weeks, not {v.unit.replace('_', ' ')}; "
                             "write e.g. '14 days' or '2 weeks'")
        return v


class Guards(_Model):
    """Rules every proposed task must pass. A guard moves or skips a task, and says why."""

    min_gap: DurationText = Field("1 day", validate_default=True, description="least time between two touches of one contact")
    touch_budget: TouchBudget = Field(default_factory=TouchBudget)
    daily_capacity: int = Field(50, ge=1, le=10_000, description="tasks per recruiter per day, counting every task "
                                "due that owner-local day (done or open); overflow moves to a later day in priority order")
    owner_capacity: dict[str, Annotated[int, Field(ge=0, le=10_000)]] = Field(
        default_factory=dict, description="owner id -> tasks per day")
    unowned: str = Field(
        "round_robin",
        description="contacts without an owner: 'round_robin' (spread over the CRM's owners, each contact always "
        "to the same one), 'report' (no task: reported as unassignable), or an owner id (that recruiter)",
        min_length=1, max_length=200,
    )


class Pacing(_Model):
    """How fast new enrollments start, and how far ahead tasks reach the CRM."""

    horizon: DurationText | None = Field(
        "5 business days",
        validate_default=True,
        description="a task is pushed to the CRM only when due within this; later ones wait in state as planned "
        "(null: push every task at once)",
    )
    enroll_order: Literal["oldest_first", "newest_first"] = Field(
        "oldest_first",
        description="order of queued contacts after referrals and re-engagements: by when they were queued",
    )
    enroll_at_capacity: bool = Field(
        True, description="start new enrollments only as the recruiters' free capacity within the horizon allows")


OutcomeName = Literal[
    "no_response", "replied", "connected", "meeting_booked", "not_now", "do_not_contact",
    "referral", "wrong_person", "bounced", "opted_out",
]
Action = Literal["continue", "finish", "snooze", "exit"]

DEFAULT_ACTIONS: dict[str, str] = {
    "no_response": "continue",
    "replied": "finish",
    "connected": "finish",
    "meeting_booked": "finish",
    "not_now": "snooze",
    "do_not_contact": "exit",
    "referral": "continue",
    "wrong_person": "exit",
    "bounced": "continue",
    "opted_out": "exit",
}


_DEFAULT_LEAD_STATUS: dict[str, OutcomeName] = {"BAD_TIMING": "not_now", "UNQUALIFIED": "do_not_contact", "CONNECTED": "connected"}


class OutcomeMapping(_Model):
    """How CRM data recruiters already keep turns into outcomes."""

    lead_status: dict[str, OutcomeName] = Field(
        default_factory=_DEFAULT_LEAD_STATUS.copy,
        description="CRM lead status value -> outcome: a status set before enrollment counts at enrollment "
                    "(no first touch), after it when it changes",
    )
    reply_finishes: bool = Field(True, description="a reply recorded after enrollment is the 'replied' outcome")
    meeting_finishes: bool = Field(True, description="a meeting booked after enrollment is 'meeting_booked'")


class Condition(_Model):
    """One test on a contact property. Exactly one operator per condition."""

    property: str = Field(description="a contact field (first_name, country, lead_status...) or a raw CRM property")
    equals: str | None = None
    not_equals: str | None = None
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    exists: bool | None = None
    contains: str | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        ops = [n for n in ("equals", "not_equals", "in_", "not_in", "exists", "contains") if getattr(self, n) is not None]
        if len(ops) != 1:
            raise ValueError("give exactly one of: equals, not_equals, in, not_in, exists, contains")
        return self


class Rule(_Model):
    """All of `all` and at least one of `any` (when given) must hold."""

    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)


SkipName = Literal["no_phone", "no_email", "no_linkedin"]


class Objection(_Model):
    objection: str
    answer: str

    @field_validator("objection", "answer")
    @classmethod
    def _template(cls, v: str) -> str:
        check_template(v)
        return v


class Script(_Model):
    """What the recruiter sees in the task: a subject, a body, answers to objections."""

    subject: str = Field(description="template; variables like {{contact.first_name}}")
    body: str = Field("", description="template (Markdown); or use body_file")
    body_file: str | None = Field(None, description="a Markdown file beside the config holding the body")
    objections: list[Objection] = Field(default_factory=list)

    @field_validator("subject", "body")
    @classmethod
    def _template(cls, v: str) -> str:
        check_template(v)
        return v


class Step(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="stable name; part of the task key")
    channel: Channel
    wait: DurationText = Field("0 days", validate_default=True, description="after the previous step's task is completed (or enrollment)")
    window: WindowText | None = Field(None, description="narrows the channel window for this step")
    priority: Literal["low", "medium", "high"] = "medium"
    script: str | None = Field(None, description="id of an entry under `scripts`")
    subject: str | None = Field(None, description="inline subject when no script is named")
    body: str | None = None
    skip_if: list[SkipName | Condition] = Field(
        default_factory=list, description="no_phone / no_email / no_linkedin or property conditions"
    )

    @field_validator("window")
    @classmethod
    def _window(cls, v: str | None) -> str | None:
        if v is not None:
            parse_window(v)
        return v

    @field_validator("subject", "body")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            check_template(v)
        return v

    @model_validator(mode="after")
    def _has_text(self) -> Step:
        if not self.script and not self.subject:
            raise ValueError("a step needs a `script` or a `subject`")
        return self



class NotNow(_Model):
    snooze: DurationText = Field("90 days", validate_default=True, description="cool-off before re-engaging")
    reengage_into: str | None = Field(None, description="cadence to re-engage into; default: this one again")


class Cadence(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    version: int = Field(1, ge=1, description="bump when steps change; see version_policy")
    description: str = ""
    enroll_when: Rule | None = Field(None, description="contacts matching this enroll; none: only by re-engage/referral")
    steps: list[Step] = Field(min_length=1)
    exit_when: Rule | None = Field(None, description="an enrolled contact matching this exits")
    on: dict[OutcomeName, Action] = Field(default_factory=dict, description="outcome -> continue/finish/snooze/exit")
    not_now: NotNow = Field(default_factory=NotNow)
    referral_cadence: str | None = Field(None, description="cadence that names given by this cadence's contacts enter")
    version_policy: Literal["migrate", "finish"] = Field(
        "migrate",
        description="contacts enrolled in an older version: 'migrate' continues at the same step id in the new "
        "version; 'finish' lets them finish their open step and then ends the enrollment",
    )

    @field_validator("on")
    @classmethod
    def _hard_stops(cls, v: dict[str, str]) -> dict[str, str]:
        for outcome in ("do_not_contact", "opted_out"):
            if v.get(outcome, "exit") != "exit":
                raise ValueError(f"{outcome} always ends the cadence for good; it can only map to 'exit'")
        return v

    def action_for(self, outcome: Outcome) -> str:
        return self.on.get(outcome.value, DEFAULT_ACTIONS[outcome.value])


class CRMSettings(BaseModel):
    """Which CRM; the rest of the keys belong to that CRM's plugin (checked by it)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str = Field("local", description="an installed CRM plugin: local, hubspot, ...")


class MassExit(_Model):
    """The safety valve: a run that would act on more vanished records than this stops and asks."""

    max_share: float = Field(0.2, ge=0, le=1, description="share of the active enrollments (0.2 = 20%)")
    max_count: int = Field(10, ge=0, description="number of enrollments")


class StateFromEnv(_Model):
    """`state: {env: VAR}`: the state's location (a path or a postgresql:// URL) is in this environment
    variable, so a database password stays out of the config file."""

    env: str = Field(..., min_length=1, description="name of the environment variable holding the path or URL")


class Config(_Model):
    version: Literal[1] = Field(1, description="config format version")
    account: str = Field("", description="CRM account id for task keys; default: the CRM's own")
    crm: CRMSettings = Field(default_factory=CRMSettings)
    state: str | StateFromEnv | None = Field(
        None, description="where the state lives: a SQLite file (default: cadence-state.sqlite beside the config), "
        "a postgresql:// URL, or {env: VAR} naming an environment variable that holds either")
    calendar: Calendar = Field(default_factory=Calendar)
    channels: Channels = Field(default_factory=Channels)
    guards: Guards = Field(default_factory=Guards)
    pacing: Pacing = Field(default_factory=Pacing)
    outcomes: OutcomeMapping = Field(default_factory=OutcomeMapping)
    referral_thanks: bool = Field(True, description="create a thank-you task for whoever gave a referral")
    mass_exit: MassExit = Field(
        default_factory=MassExit,
        description="stop a run that would end or move more than max_count AND more than max_share of the "
                    "active enrollments because their contacts or open tasks vanished (--allow-mass-exit to confirm)")
    unreachable: Literal["todo", "exit"] = Field(
        "todo",
        description="a contact every step skips (no phone, no email, opted out): 'todo' gives the owner one task "
        "to find a way to reach them; 'exit' ends the enrollment with that reason",
    )
    scripts: dict[str, Script] = Field(default_factory=dict)
    cadences: list[Cadence] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Config:
        plain = {
            "scripts": dict(self.scripts),
            "cadences": [{"id": c.id, "referral_cadence": c.referral_cadence, "not_now": {"reengage_into": c.not_now.reengage_into},
                          "steps": [{"id": s.id, "script": s.script} for s in c.steps]} for c in self.cadences],
        }
        for problem in reference_problems(plain):
            raise reference_error(f"{problem.where}: {problem.message}")
        for c in self.cadences:
            for s in c.steps:
                if s.window and self.channel_window(s.channel).intersect(parse_window(s.window)) is None:
                    raise ValueError(
                        f"cadence {c.id!r} step {s.id!r}: window {s.window} does not overlap the "
                        f"{s.channel.value} window {self.channel_window(s.channel)}"
                    )
        return self

    def channel_window(self, channel: Channel) -> Window:
        """The contact-local window a channel's tasks may fall in (calls always inside 08:00-21:00)."""
        hours = parse_window(self.calendar.working_hours)
        if channel is Channel.CALL:
            tcpa = parse_window(TCPA_CALL_WINDOW)
            call = parse_window(self.channels.call) if "call" in self.channels.model_fields_set else hours
            return call.intersect(tcpa) or tcpa
        own = getattr(self.channels, channel.value)
        return parse_window(own) if own else hours

    def cadence(self, cadence_id: str) -> Cadence | None:
        return next((c for c in self.cadences if c.id == cadence_id), None)


def json_schema() -> dict[str, Any]:
    """The config's JSON Schema, for editors (`cadence schema`)."""
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "crm-cadence config"
    return schema

