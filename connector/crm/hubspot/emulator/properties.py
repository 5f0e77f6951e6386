"""Property registry: definitions per object type, groups, and value validation.

Every stored value is a string (facts §1.1).  Datetimes are kept in the canonical
``YYYY-MM-DDTHH:MM:SS.mmmZ`` form, so string order is time order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import available_timezones

from . import errors
from .timefmt import normalize_date, normalize_datetime

TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
NUMERIC_TYPES = {"number"}
TIME_TYPES = {"datetime", "date"}


def iana_to_hubspot_tz(name: str) -> str:
    """``America/New_York`` -> ``america_slash_new_york`` (HubSpot's option-value style)."""
    return name.lower().replace("/", "_slash_")


def hubspot_tz_to_iana(value: str) -> str | None:
    """Inverse of :func:`iana_to_hubspot_tz`; None if no IANA zone matches."""
    return _tz_lookup().get(value)


@lru_cache(maxsize=1)
def _tz_lookup() -> dict[str, str]:
    return {iana_to_hubspot_tz(z): z for z in available_timezones() if "/" in z or z == "UTC"}


@dataclass
class PropertyDef:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    options: list[dict] = field(default_factory=list)
    description: str = ""
    has_unique_value: bool = False
    read_only: bool = False
    calculated: bool = False
    hubspot_defined: bool = True
    hidden: bool = False
    form_field: bool = False
    display_order: int = -1
    created_at: str = "2019-08-06T02:41:52.000Z"
    updated_at: str = "2019-08-06T02:41:52.000Z"
    _option_values: frozenset | None = None

    def option_values(self) -> frozenset:
        if self._option_values is None:
            self._option_values = frozenset(o["value"] for o in self.options)
        return self._option_values

    def to_json(self) -> dict:
        return {
            "name": self.name, "label": self.label, "type": self.type, "fieldType": self.field_type,
            "description": self.description, "groupName": self.group_name, "options": self.options,
            "displayOrder": self.display_order, "calculated": self.calculated,
            "externalOptions": self.name == "hubspot_owner_id", "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden, "hubspotDefined": self.hubspot_defined, "formField": self.form_field,
            "modificationMetadata": {"archivable": not self.hubspot_defined, "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only},
            "createdAt": self.created_at, "updatedAt": self.updated_at, "archived": False,
        }


def _opts(*values: str) -> list[dict]:
    return [{"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
            for i, v in enumerate(values)]


BOOL_OPTIONS = [{"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "False", "value": "false", "displayOrder": 1, "hidden": False}]

LEAD_STATUSES = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
                 "CONNECTED", "BAD_TIMING")
LIFECYCLE_STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
                    "customer", "evangelist", "other")
TASK_STATUSES = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
TASK_PRIORITIES = ("NONE", "LOW", "MEDIUM", "HIGH")
TASK_TYPES = ("CALL", "EMAIL", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE", "MEETING", "TODO")

# name, label, type, fieldType, group, flags ("ro" read-only value, "calc" calculated, "unique")
_CONTACT_PROPS = [
    ("firstname", "First Name", "string", "text", "contactinformation", ""),
    ("lastname", "Last Name", "string", "text", "contactinformation", ""),
    ("email", "Email", "string", "text", "contactinformation", "unique"),
    ("hs_additional_emails", "Additional email addresses", "enumeration", "checkbox", "contactinformation", "ro"),
    ("phone", "Phone Number", "string", "phonenumber", "contactinformation", ""),
    ("mobilephone", "Mobile Phone Number", "string", "phonenumber", "contactinformation", ""),
    ("company", "Company Name", "string", "text", "contactinformation", ""),
    ("jobtitle", "Job Title", "string", "text", "contactinformation", ""),
    ("website", "Website URL", "string", "text", "contactinformation", ""),
    ("country", "Country/Region", "string", "text", "contactinformation", ""),
    ("state", "State/Region", "string", "text", "contactinformation", ""),
    ("city", "City", "string", "text", "contactinformation", ""),
    ("address", "Street Address", "string", "text", "contactinformation", ""),
    ("zip", "Postal Code", "string", "text", "contactinformation", ""),
    ("hs_linkedin_url", "LinkedIn URL", "string", "text", "contactinformation", ""),
    ("hs_timezone", "Time Zone", "enumeration", "select", "contactinformation", ""),
    ("hs_ip_timezone", "IP Timezone", "string", "text", "contactinformation", "ro calc"),
    ("hubspot_owner_id", "Contact owner", "enumeration", "select", "sales_properties", ""),
    ("hubspot_team_id", "HubSpot Team", "enumeration", "select", "sales_properties", "ro"),
    ("hs_lead_status", "Lead Status", "enumeration", "radio", "sales_properties", ""),
    ("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", "contactinformation", ""),
    ("hs_pinned_engagement_id", "Pinned Engagement ID", "number", "number", "contactinformation", ""),
    ("hs_email_optout", "Unsubscribed from all email", "bool", "booleancheckbox", "emailinformation", "ro calc"),
    ("hs_email_bounce", "Marketing emails bounced", "number", "number", "emailinformation", "ro calc"),
    ("hs_email_hard_bounce_reason_enum", "Email hard bounce reason", "enumeration", "select",
     "emailinformation", "ro calc"),
    ("hs_email_last_reply_date", "Last marketing email reply date", "datetime", "date", "emailinformation",
     "ro calc"),
    ("hs_sales_email_last_replied", "Recent Sales Email Replied Date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_sales_email_last_opened", "Recent Sales Email Opened Date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_sales_email_last_clicked", "Recent Sales Email Clicked Date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_last_sales_activity_timestamp", "Last Engagement Date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_last_sales_activity_date", "Last Activity Date", "datetime", "date", "sales_properties", "ro calc"),
    ("hs_last_sales_activity_type", "Last Engagement Type", "string", "text", "sales_properties", "ro calc"),
    ("engagements_last_meeting_booked", "Date of last meeting booked in meetings tool", "datetime", "date",
     "sales_properties", "ro calc"),
    ("notes_last_contacted", "Last Contacted", "datetime", "date", "contact_activity", "ro calc"),
    ("notes_last_updated", "Last Activity Date", "datetime", "date", "contact_activity", "ro calc"),
    ("notes_next_activity_date", "Next Activity Date", "datetime", "date", "contact_activity", "ro calc"),
    ("num_contacted_notes", "Number of times contacted", "number", "number", "contact_activity", "ro calc"),
    ("num_notes", "Number of Sales Activities", "number", "number", "contact_activity", "ro calc"),
    ("hs_sequences_is_enrolled", "Currently in Sequence", "bool", "booleancheckbox", "sales_properties",
     "ro calc"),
    ("hs_sequences_actively_enrolled_count", "Number of sequences actively enrolled", "number", "number",
     "sales_properties", "ro calc"),
    ("hs_latest_sequence_enrolled", "Last sequence enrolled", "number", "number", "sales_properties", "ro calc"),
    ("hs_latest_sequence_ended_date", "Last sequence ended date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_latest_sequence_finished_date", "Last sequence finished date", "datetime", "date", "sales_properties",
     "ro calc"),
    ("hs_latest_sequence_unenrolled_date", "Last sequence unenrolled date", "datetime", "date",
     "sales_properties", "ro calc"),
    ("hs_merged_object_ids", "Merged Contact IDs", "enumeration", "checkbox", "contactinformation", "ro calc"),
    ("hs_calculated_merged_vids", "Merged Contact IDs with timestamps", "enumeration", "checkbox",
     "contactinformation", "ro calc"),
    ("hs_object_id", "Record ID", "number", "number", "contactinformation", "ro calc"),
    ("createdate", "Create Date", "datetime", "date", "contactinformation", ""),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation", "ro calc"),
]

_TASK_PROPS = [
    ("hs_timestamp", "Due date", "datetime", "date", "task", ""),
    ("hs_task_subject", "Task Title", "string", "text", "task", ""),
    ("hs_task_body", "Notes", "string", "html", "task", ""),
    ("hs_task_status", "Task Status", "enumeration", "select", "task", ""),
    ("hs_task_priority", "Priority", "enumeration", "select", "task", ""),
    ("hs_task_type", "Task Type", "enumeration", "select", "task", ""),
    ("hubspot_owner_id", "Assigned to", "enumeration", "select", "task", ""),
    ("hubspot_team_id", "HubSpot Team", "enumeration", "select", "task", "ro"),
    ("hs_task_completion_date", "Completed at", "datetime", "date", "task", ""),
    ("hs_task_reminders", "Reminder", "enumeration", "checkbox", "task", ""),
    ("hs_queue_membership_ids", "Queue", "enumeration", "checkbox", "task", ""),
    ("hs_task_is_all_day", "Is all day", "bool", "booleancheckbox", "task", ""),
    ("hs_task_is_overdue", "Is overdue", "bool", "booleancheckbox", "task", "ro calc"),
    ("hs_task_completion_count", "Completion count", "number", "number", "task", "ro calc"),
    ("hs_task_for_object_type", "Task for object type", "string", "text", "task", "ro calc"),
    ("hs_task_last_contact_outreach", "Last contact outreach", "datetime", "date", "task", "ro calc"),
    ("hs_object_id", "Record ID", "number", "number", "task", "ro calc"),
    ("hs_createdate", "Create date", "datetime", "date", "task", "ro calc"),
    ("hs_lastmodifieddate", "Last modified date", "datetime", "date", "task", "ro calc"),
]

_OPTIONS = {
    ("contacts", "hs_lead_status"): lambda: _opts(*LEAD_STATUSES),
    ("contacts", "lifecyclestage"): lambda: _opts(*LIFECYCLE_STAGES),
    ("contacts", "hs_email_hard_bounce_reason_enum"): lambda: _opts("BAD_MAILBOX", "DOMAIN", "POLICY", "OTHER"),
    ("contacts", "hs_timezone"): lambda: [
        {"label": iana, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, iana) in enumerate(sorted(_tz_lookup().items()))],
    ("tasks", "hs_task_status"): lambda: _opts(*TASK_STATUSES),
    ("tasks", "hs_task_priority"): lambda: _opts(*TASK_PRIORITIES),
    ("tasks", "hs_task_type"): lambda: _opts(*TASK_TYPES),
}

# enumerations whose values are free (ids, lists): not checked against options
_FREE_ENUMS = {"hs_additional_emails", "hs_merged_object_ids", "hs_calculated_merged_vids", "hubspot_team_id",
               "hs_task_reminders", "hs_queue_membership_ids"}

_GROUPS = {
    "contacts": [("contactinformation", "Contact information"), ("sales_properties", "Sales properties"),
                 ("emailinformation", "Email information"), ("contact_activity", "Contact activity")],
    "tasks": [("task", "Task information")],
}

# Properties HubSpot always returns, whatever ``properties`` asked for, and the
# default set when nothing is asked for (facts §1.2, §1.3).
ALWAYS = {"contacts": ("createdate", "lastmodifieddate", "hs_object_id"),
          "tasks": ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")}
DEFAULTS = {"contacts": ("firstname", "lastname", "email"), "tasks": ()}
MODIFIED = {"contacts": "lastmodifieddate", "tasks": "hs_lastmodifieddate"}
CREATED = {"contacts": "createdate", "tasks": "hs_createdate"}
TEXT_SEARCHED = {"contacts": ("firstname", "lastname", "email", "phone", "mobilephone", "company",
                              "hs_additional_emails"),
                 "tasks": ("hs_task_subject", "hs_task_body")}
MAX_UNIQUE = 10


class PropertyRegistry:
    """Definitions and groups for one object type."""

    def __init__(self, object_type: str, owner_exists=lambda owner_id: True) -> None:
        self.object_type = object_type
        self.owner_exists = owner_exists
        self.props: dict[str, PropertyDef] = {}
        self.groups: dict[str, dict] = {}
        for i, (name, label) in enumerate(_GROUPS[object_type]):
            self.groups[name] = {"name": name, "label": label, "displayOrder": i, "archived": False}
        table = _CONTACT_PROPS if object_type == "contacts" else _TASK_PROPS
        for order, (name, label, ptype, ftype, group, flags) in enumerate(table):
            opts_fn = _OPTIONS.get((object_type, name))
            options = opts_fn() if opts_fn else (list(BOOL_OPTIONS) if ptype == "bool" else [])
            self.props[name] = PropertyDef(
                name=name, label=label, type=ptype, field_type=ftype, group_name=group, options=options,
                read_only="ro" in flags, calculated="calc" in flags, has_unique_value="unique" in flags,
                display_order=order)

    # -- definitions -------------------------------------------------------
    def get(self, name: str) -> PropertyDef | None:
        return self.props.get(name)

    def unique_names(self) -> list[str]:
        return [p.name for p in self.props.values() if p.has_unique_value]

    def create(self, body: dict, now_iso: str) -> PropertyDef:
        missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)]
        if missing:
            raise errors.validation(f"Missing required field(s): {', '.join(missing)}")
        name = str(body["name"])
        if not re.match(r"^[a-z][a-z0-9_]*$", name):
            raise errors.validation(f"Property name '{name}' is invalid: use lowercase letters, digits and _.")
        if name in self.props:
            raise errors.ApiError(409, errors.error_body(
                "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists."))
        if body["type"] not in TYPES:
            raise errors.validation(f"Invalid property type '{body['type']}'. Must be one of {sorted(TYPES)}")
        if body["groupName"] not in self.groups:
            raise errors.validation(f"Property group '{body['groupName']}' does not exist.")
        unique = bool(body.get("hasUniqueValue"))
        if unique and len(self.unique_names()) >= MAX_UNIQUE + 1:  # email is built in
            raise errors.validation(f"An object can have at most {MAX_UNIQUE} unique value properties.")
        options = []
        for i, opt in enumerate(body.get("options") or []):
            options.append({"label": opt.get("label", opt.get("value")), "value": str(opt.get("value")),
                            "displayOrder": opt.get("displayOrder", i), "hidden": bool(opt.get("hidden", False)),
                            **({"description": opt["description"]} if opt.get("description") else {})})
        if body["type"] == "bool" and not options:
            options = list(BOOL_OPTIONS)
        prop = PropertyDef(
            name=name, label=str(body["label"]), type=body["type"], field_type=str(body["fieldType"]),
            group_name=body["groupName"], options=options, description=str(body.get("description") or ""),
            has_unique_value=unique, hubspot_defined=False, hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)), display_order=int(body.get("displayOrder", -1)),
            created_at=now_iso, updated_at=now_iso)
        self.props[name] = prop
        return prop

    def create_group(self, body: dict) -> dict:
        name, label = body.get("name"), body.get("label")
        if not name or not label:
            raise errors.validation("Missing required field(s): name, label")
        if name in self.groups:
            raise errors.ApiError(409, errors.error_body(
                "OBJECT_ALREADY_EXISTS", f"A property group with name '{name}' already exists."))
        group = {"name": name, "label": label, "displayOrder": int(body.get("displayOrder", -1)),
                 "archived": False}
        self.groups[name] = group
        return group

    # -- values ------------------------------------------------------------
    def normalize(self, values: dict, *, allow_read_only: bool = False) -> dict:
        """Validate ``values`` for a write; return name -> canonical string (None clears).
        Raises a 400 listing every bad property, like HubSpot."""
        problems, out = [], {}
        for name, raw in values.items():
            prop = self.props.get(name)
            if prop is None:
                problems.append(errors.property_problem(name, "PROPERTY_DOESNT_EXIST",
                                                        f'Property "{name}" does not exist'))
                continue
            if prop.read_only and not allow_read_only:
                problems.append(errors.property_problem(
                    name, "READ_ONLY_VALUE", f"{name} is a read only property; its value cannot be set."))
                continue
            value, problem = self.normalize_value(prop, raw)
            if problem:
                problems.append(problem)
            else:
                out[name] = value
        if problems:
            raise errors.property_values_error(problems)
        return out

    def normalize_value(self, prop: PropertyDef, raw) -> tuple[str | None, dict | None]:
        if raw is None:
            return None, None
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        else:
            text = str(raw)
        if text == "":
            return None, None  # "" clears a property
        name, ptype = prop.name, prop.type
        if ptype == "number":
            try:
                float(text)
            except ValueError:
                return None, errors.property_problem(name, "INVALID_INTEGER", f"{text} was not a valid number.")
            return text, None
        if ptype == "bool":
            low = text.lower()
            if low not in ("true", "false"):
                return None, errors.property_problem(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
            return low, None
        if ptype == "datetime":
            iso = normalize_datetime(text)
            if iso is None:
                return None, errors.property_problem(name, "INVALID_DATE", f"{text} was not a valid date/time.")
            return iso, None
        if ptype == "date":
            day = normalize_date(text)
            if day is None:
                return None, errors.property_problem(
                    name, "INVALID_DATE", f"{text} is not a valid date; dates must be at midnight UTC.")
            return day, None
        if ptype == "enumeration":
            if name == "hubspot_owner_id":
                if not self.owner_exists(text):
                    return None, errors.property_problem(
                        name, "INVALID_OPTION", f"{text} was not one of the allowed options: owner ids")
                return text, None
            if name in _FREE_ENUMS or not prop.options:
                return text, None
            allowed = prop.option_values()
            parts = text.split(";") if prop.field_type == "checkbox" else [text]
            bad = [p for p in parts if p not in allowed]
            if bad:
                shown = sorted(allowed)[:20]
                return None, errors.property_problem(
                    name, "INVALID_OPTION", f"{bad[0]} was not one of the allowed options: {shown}")
            return text, None
        if name == "email":
            low = text.strip().lower()
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", low):
                return None, errors.property_problem(name, "INVALID_EMAIL", f"Email address {text} is invalid")
            return low, None
        return text, None
