"""Salesforce settings from the `crm:` section of the config; secrets from the environment only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.crm.base import ConfigError, FatalCRMError
from connector.crm.hubspot.settings import Secret

OutcomeValue = Literal["no_response", "replied", "connected", "meeting_booked", "not_now", "do_not_contact",
                       "referral", "wrong_person", "bounced", "opted_out"]
PeopleObject = Literal["Contact", "Lead"]
DEFAULT_CHANNEL_TYPES = {"call": "Call", "email": "Email", "linkedin": "Other", "meeting": "Meeting", "todo": "Other"}
DEFAULT_PRIORITIES = {"low": "Low", "medium": "Normal", "high": "High"}


class ContactFields(BaseModel):
    """Which Contact field feeds each field the engine reads ("" = none). `Account.Name` style
    parent fields are allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_name: str = "FirstName"
    last_name: str = "LastName"
    email: str = "Email"
    phone: str = "Phone"
    mobile_phone: str = "MobilePhone"
    company: str = "Account.Name"
    title: str = "Title"
    linkedin_url: str = ""
    owner_id: str = "OwnerId"
    timezone: str = Field("", description="a Contact field holding an IANA zone; Contacts have none by default")
    country: str = Field("MailingCountry", description="a country name or ISO code")
    subdivision: str = ""
    lead_status: str = ""
    lifecycle_stage: str = ""
    email_optout: str = "HasOptedOutOfEmail"
    do_not_call: str = "DoNotCall"
    do_not_contact: str = ""
    last_reply_at: str = ""
    last_meeting_at: str = ""
    referred_by: str = ""


class LeadFields(ContactFields):
    """Which Lead field feeds each field the engine reads: Leads keep the company, the country
    and their status on the Lead itself."""

    company: str = "Company"
    country: str = Field("Country", description="a country name or ISO code")
    lead_status: str = Field("Status", description="the Lead Status picklist (map its values in outcomes.lead_status)")


class SalesforceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["salesforce"] = "salesforce"
    auth: Literal["jwt", "client_credentials", "session"] = Field(
        "jwt", description="jwt (OAuth JWT bearer), client_credentials, or session (a session id; for tests)")
    domain: str = Field("login", description="login, test (sandboxes), or your My Domain such as acme.my")
    username: str = Field("", description="jwt: the integration user's username")
    consumer_key_env: str = "SALESFORCE_CONSUMER_KEY"
    consumer_secret_env: str = "SALESFORCE_CONSUMER_SECRET"
    private_key_env: str = Field("SALESFORCE_PRIVATE_KEY", description="jwt: the PEM private key, or a path to it")
    session_id_env: str = "SALESFORCE_SESSION_ID"
    instance_url_env: str = "SALESFORCE_INSTANCE_URL"
    api_version: str = Field("59.0", pattern=r"^\d{2}\.\d$", description="REST API version, no leading v (46.0+)")
    task_key_field: str = Field("TaskKey__c", description="Activity custom field: External ID + Unique, Text(255)")
    outcome_field: str = Field("CallDisposition", description="Task field a recruiter records the outcome in; '' for none")
    outcomes: dict[str, OutcomeValue] = Field(default_factory=dict,
                                              description="outcome field value -> outcome (besides the outcome names)")
    channel_types: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_TYPES),
                                          description="channel -> Task Type picklist value ('' to leave Type empty)")
    priorities: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PRIORITIES),
                                       description="low/medium/high -> Task Priority picklist value")
    close_status: str = Field("Completed", description="the closed Task Status written when a cadence ends a task")
    daily_share: float = Field(0.5, gt=0, le=1, description="share of the org's remaining daily API requests a run may use")
    request_timeout: float = Field(60.0, gt=0, description="seconds per HTTP call")
    max_retries: int = Field(5, ge=0, description="retries of a 5xx, reset or UNABLE_TO_LOCK_ROW")
    sweep_hours: float = Field(24.0, ge=0, description="how often to check enrolled contacts and open tasks still exist")
    objects: list[PeopleObject] = Field(
        default_factory=lambda: list[PeopleObject](["Contact"]), min_length=1,
        description="the people to follow up: Contact (the default), Lead, or both ([Contact, Lead])")
    fields: ContactFields = Field(default_factory=ContactFields)
    extra_fields: list[str] = Field(default_factory=list, description="more Contact fields to read")
    lead_fields: LeadFields = Field(default_factory=LeadFields, description="objects has Lead: which Lead field "
                                    "feeds each field the engine reads")
    lead_extra_fields: list[str] = Field(default_factory=list, description="more Lead fields to read")

    def fields_of(self, sobject: str) -> ContactFields:
        return self.lead_fields if sobject == "Lead" else self.fields

    def extra_fields_of(self, sobject: str) -> list[str]:
        return self.lead_extra_fields if sobject == "Lead" else self.extra_fields


@dataclass(frozen=True)
class Credentials:
    """What sign-in needs; every secret wrapped so it never prints."""

    consumer_key: Secret | None = None
    consumer_secret: Secret | None = None
    private_key: Secret | None = None
    session_id: Secret | None = None
    instance_url: str = ""
    login_url: str = ""  # SALESFORCE_LOGIN_URL: send the token exchange here (the emulator)
    ca_bundle: str = ""  # SALESFORCE_CA_BUNDLE: trust this CA file only (the emulator's test CA)

    def __repr__(self) -> str:
        return f"Credentials(instance_url={self.instance_url!r}, login_url={self.login_url!r})"


def account_of(raw: Mapping[str, object], env: Mapping[str, str] = os.environ) -> str:
    """The account id a config's Salesforce block stands for, from the config alone: no
    secret, no request (what `cadence status` needs to find the state). The org is known by
    its host: the instance URL in `session` mode, else the sign-in domain; a JWT sign-in at the
    shared `login`/`test` domain adds the integration user's username (unique across orgs)."""
    auth = str(raw.get("auth") or "jwt")
    if auth == "session":
        name = str(raw.get("instance_url_env") or "SALESFORCE_INSTANCE_URL")
        instance = env.get(name, "")
        if not instance:
            raise FatalCRMError(f"no Salesforce instance URL: set the {name} environment variable")
        return f"salesforce:{instance.split('//')[-1].rstrip('/')}"
    domain = str(raw.get("domain") or "login")
    username = str(raw.get("username") or "")
    if auth == "jwt" and domain in ("login", "test") and username:
        return f"salesforce:{domain}.salesforce.com/{username.lower()}"
    return f"salesforce:{domain}.salesforce.com"


Problem = tuple[tuple[str | int, ...], str]  # (key path under crm, message)


def settings_problems(raw: Mapping[str, object]) -> tuple[SalesforceSettings | None, list[Problem]]:
    """The settings, and every problem with them (`cadence check` reports each at its key;
    a sync stops at the first). Needs no secret."""
    try:
        settings = SalesforceSettings.model_validate(dict(raw))
    except ValidationError as err:
        return None, [(tuple(e["loc"]), e["msg"]) for e in err.errors()]
    problems: list[Problem] = []
    if float(settings.api_version) < 46.0:
        problems.append((("api_version",), "upserts through sObject Collections need API version 46.0 or later"))
    if len(set(settings.objects)) != len(settings.objects):
        problems.append((("objects",), "each object once (Contact, Lead)"))
    for channel in sorted(set(settings.channel_types) - set(DEFAULT_CHANNEL_TYPES)):
        problems.append((("channel_types", channel), f"not a channel ({', '.join(DEFAULT_CHANNEL_TYPES)})"))
    for priority in sorted(set(settings.priorities) - set(DEFAULT_PRIORITIES)):
        problems.append((("priorities", priority), "not a priority (low, medium, high)"))
    if settings.auth == "client_credentials" and settings.domain in ("login", "test"):
        problems.append((("domain",), "the client credentials flow signs in at your My Domain (e.g. acme.my), "
                                      "not login or test"))
    if settings.auth == "jwt" and not settings.username:
        problems.append((("username",), "the JWT bearer flow needs the integration user's username"))
    return settings, problems


def load_settings(raw: Mapping[str, object], env: Mapping[str, str] = os.environ) -> tuple[SalesforceSettings, Credentials]:
    checked, problems = settings_problems(raw)
    if problems or checked is None:
        where, message = problems[0]
        raise ConfigError(f"crm.{'.'.join(str(p) for p in where)}: {message}")
    settings = checked

    def secret(name: str, what: str) -> Secret:
        value = env.get(name, "")
        if not value:
            raise FatalCRMError(f"no Salesforce {what}: set the {name} environment variable "
                                f"(crm.auth is {settings.auth})")
        return Secret(value)

    extra: dict[str, Any] = {"login_url": env.get("SALESFORCE_LOGIN_URL", "").rstrip("/"), "ca_bundle": env.get("SALESFORCE_CA_BUNDLE", "")}
    if settings.auth == "session":
        instance = env.get(settings.instance_url_env, "")
        if not instance:
            raise FatalCRMError(f"no Salesforce instance URL: set the {settings.instance_url_env} environment variable")
        return settings, Credentials(session_id=secret(settings.session_id_env, "session id"), instance_url=instance, **extra)
    if settings.auth == "client_credentials":
        return settings, Credentials(consumer_key=secret(settings.consumer_key_env, "consumer key"),
                                     consumer_secret=secret(settings.consumer_secret_env, "consumer secret"), **extra)
    key = secret(settings.private_key_env, "private key").reveal()
    if not key.lstrip().startswith("-----BEGIN"):
        try:
            with open(os.path.expanduser(key), encoding="utf-8") as f:
                key = f.read()
        except OSError as err:
            raise FatalCRMError(f"{settings.private_key_env}: cannot read the private key file ({err.strerror})") from None
    return settings, Credentials(consumer_key=secret(settings.consumer_key_env, "consumer key"), private_key=Secret(key),
                                 **extra)
