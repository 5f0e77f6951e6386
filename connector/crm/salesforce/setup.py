"""`cadence setup salesforce`: check the org has what the connector writes, and say exactly
what an admin must add when it does not. Nothing is created: fields and picklist values are
Setup changes an admin makes (the REST API the connector uses cannot, and should not)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.crm.base import SetupReport

if TYPE_CHECKING:
    from .adapter import SalesforceCRM

ACTIVITY_FIELDS = "Setup > Object Manager > Activity > Fields & Relationships"


def _picklist(field: dict[str, Any]) -> set[str]:
    return {p["value"] for p in field.get("picklistValues", []) if p.get("active", True)}


def check_org(crm: SalesforceCRM) -> SetupReport:
    s = crm.settings
    done: list[str] = []
    missing: list[str] = []
    warnings: list[str] = []
    task = {f["name"]: f for f in crm._restful("sobjects/Task/describe").get("fields", [])}
    done.append(f"signed in ({s.auth}); Task has {len(task)} fields")

    key = task.get(s.task_key_field)
    label = s.task_key_field.removesuffix("__c")
    if key is None:
        missing.append(f"add the task-key field: {ACTIVITY_FIELDS} > New > Text, Field Label '{label}', Length 255, "
                       f"Field Name '{label}' (API name {s.task_key_field}), tick 'Unique' and 'External ID'; give the "
                       "integration user's profile Edit access")
    else:
        if not key.get("externalId"):
            missing.append(f"mark {s.task_key_field} as External ID: {ACTIVITY_FIELDS} > {key.get('label', label)} > "
                           "Edit > tick 'External ID' (upserts by key need it)")
        if not key.get("unique"):
            warnings.append(f"{s.task_key_field} is not Unique: tick 'Unique' in {ACTIVITY_FIELDS} if the org offers it, "
                            "so no other tool can create a second task with the same key")
        if key.get("type") not in ("string", "email") or (key.get("length") or 0) < 64:
            missing.append(f"{s.task_key_field} must be Text of length 64 or more (it is {key.get('type')}"
                           f"({key.get('length')})): recreate it as Text(255)")
        if key is not None and not key.get("updateable", True):
            missing.append(f"give the integration user Edit access to {s.task_key_field} (field-level security)")
        if not missing:
            done.append(f"task-key field {s.task_key_field}: External ID" + (", Unique" if key.get("unique") else ""))

    for engine_value, value in sorted(s.priorities.items()):
        values = _picklist(task.get("Priority", {}))
        if value not in values:
            missing.append(f"add '{value}' to the Task Priority picklist ({ACTIVITY_FIELDS} > Priority > Values > New), "
                           f"or map priority {engine_value} to one of {sorted(values)} in crm.priorities")
    types = _picklist(task.get("Type", {}))
    for channel, value in sorted(s.channel_types.items()):
        if value and value not in types:
            missing.append(f"add '{value}' to the Task Type picklist ({ACTIVITY_FIELDS} > Type > Values > New), or map "
                           f"channel {channel} to one of {sorted(types)} (or '') in crm.channel_types")
    if s.outcome_field:
        outcome = task.get(s.outcome_field)
        if outcome is None:
            missing.append(f"the outcome field {s.outcome_field} is not on Task (CallDisposition comes with Salesforce "
                           f"Call Center): add a Text or Picklist field in {ACTIVITY_FIELDS}, name it in "
                           "crm.outcome_field, or set crm.outcome_field: '' to read no outcomes")
        else:
            done.append(f"outcomes are read from Task.{s.outcome_field}")
    for name in ("WhoId", "OwnerId", "ActivityDate", "ReminderDateTime", "IsReminderSet", "Status"):
        if name not in task:
            missing.append(f"the integration user cannot see Task.{name}: check its profile's field-level security")

    statuses = {r["ApiName"]: r for records in crm._query("SELECT ApiName, IsClosed FROM TaskStatus") for r in records}
    closed = statuses.get(s.close_status)
    if closed is None:
        missing.append(f"crm.close_status {s.close_status!r} is not a Task Status (there are: {', '.join(sorted(statuses))})")
    elif not closed.get("IsClosed"):
        missing.append(f"Task Status {s.close_status!r} is not a closed status: pick a closed one in crm.close_status "
                       f"({', '.join(sorted(k for k, v in statuses.items() if v.get('IsClosed')))})")
    else:
        done.append(f"exits close tasks with Status {s.close_status!r}")

    for sobject in s.objects:
        known = {f["name"].lower() for f in crm._restful(f"sobjects/{sobject}/describe").get("fields", [])}
        key, extra_key = ("lead_fields", "lead_extra_fields") if sobject == "Lead" else ("fields", "extra_fields")
        wanted = {name: value for name, value in s.fields_of(sobject).model_dump().items() if value}
        for name, value in sorted(wanted.items()):
            field = value.split(".")[0] + "Id" if "." in value else value
            if field.lower() not in known:
                how = (f"Setup > Object Manager > {sobject} > Fields & Relationships > New" if value.endswith("__c")
                       else "check the integration user's field-level security")
                missing.append(f"{sobject} has no field {value} (crm.{key}.{name}): {how}, or change crm.{key}.{name}")
        for value in s.extra_fields_of(sobject):
            if value.lower() not in known:
                missing.append(f"{sobject} has no field {value} (crm.{extra_key}): add it, or remove it from the list")
        done.append(f"reads {sobject}s")
    owners = crm.list_owners()
    done.append(f"{len(owners)} active users can own tasks")
    return SetupReport(done=done, missing=missing, warnings=warnings)
