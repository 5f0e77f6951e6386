"""HubSpot settings from the `crm:` section of the config, and the token from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.crm.base import ConfigError

DEFAULT_BASE_URL = "https://api.hubapi.com"
# requests per rolling 10 seconds, and per second on search, by tier
TIERS = {"free": (100, 5), "starter": (100, 5), "pro": (190, 5), "enterprise": (190, 5)}


class Secret:
    """A token that never shows itself in reprs, logs or errors."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ContactProperties(BaseModel):
    """Which HubSpot contact property feeds each field the engine reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    first_name: str = "firstname"
    last_name: str = "lastname"
    email: str = "email"
    phone: str = "phone"
    mobile_phone: str = "mobilephone"
    company: str = "company"
    title: str = "jobtitle"
    linkedin_url: str = "hs_linkedin_url"
    owner_id: str = "hubspot_owner_id"
    timezone: str = "hs_timezone"
    country: str = "country"
    subdivision: str = ""
    lead_status: str = "hs_lead_status"
    lifecycle_stage: str = "lifecyclestage"
    email_optout: str = "hs_email_optout"
    email_bounced: str = "hs_email_hard_bounce_reason_enum"
    do_not_contact: str = Field("", description="a boolean contact property meaning 'never contact'")
    last_reply_at: str = "hs_sales_email_last_replied"
    last_meeting_at: str = "engagements_last_meeting_booked"
    referred_by: str = Field("referred_by", description="contact property holding the referrer's contact id")


class HubSpotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["hubspot"] = "hubspot"
    token_env: str = Field("HUBSPOT_ACCESS_TOKEN", description="environment variable holding the private-app token")
    base_url: str | None = Field(None, description="default: $HUBSPOT_BASE_URL, else https://api.hubapi.com")
    tier: Literal["free", "starter", "pro", "enterprise"] = "free"
    request_timeout: float = Field(30.0, gt=0, description="seconds per HTTP call")
    throttle_share: float = Field(0.9, gt=0, le=1, description="share of the rate limit this connector may use")
    max_retries: int = Field(6, ge=0)
    key_property: str = Field("crm_cadence_key", description="task property carrying the task key")
    enrollment_property: str = Field("crm_cadence_enrollment", description="task property carrying the task's "
                                     "enrollment (a lost state is rebuilt from it); empty: not written")
    sweep_hours: float = Field(24.0, ge=0, description="how often to check enrolled contacts and open tasks still exist")
    properties: ContactProperties = Field(default_factory=ContactProperties)
    extra_properties: list[str] = Field(default_factory=list, description="more contact properties to read")


def load_settings(raw: Mapping[str, object], env: Mapping[str, str] = os.environ) -> tuple[HubSpotSettings, Secret, str]:
    """(settings, token, base URL). A missing token or bad key is a clear error."""
    try:
        settings = HubSpotSettings.model_validate(dict(raw))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"crm.{where}: {first['msg']}") from None
    token = env.get(settings.token_env, "")
    if not token:
        raise ConfigError(  # bad input (exit 2), found before any request
            f"no HubSpot token: set the {settings.token_env} environment variable to a private-app access token"
        )
    base_url = (settings.base_url or env.get("HUBSPOT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return settings, Secret(token), base_url


def account_of(raw: Mapping[str, object], env: Mapping[str, str] = os.environ) -> str:
    """The account id a config's HubSpot block stands for, without a token or a request
    (what `cadence status` needs to find the state)."""
    try:
        settings = HubSpotSettings.model_validate(dict(raw))
    except ValidationError:
        settings = None
    base_url = ((settings.base_url if settings else None) or env.get("HUBSPOT_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return f"hubspot:{base_url.split('//')[-1]}"
