"""The sObjects the emulator serves, as describe() presents their fields."""

from __future__ import annotations

from typing import Any

KEY_PREFIX = {"Account": "001", "Contact": "003", "Lead": "00Q", "Task": "00T", "User": "005",
              "TaskStatus": "01J", "Organization": "00D"}
PRIORITIES = ["High", "Normal", "Low"]
TASK_SUBTYPES = ["Task", "Email", "ListEmail", "Call", "LinkedIn"]
# Task Type values: org-defined; the default set is UNCONFIRMED (fact sheet §8.5): Call, Email, Meeting, Other
TASK_TYPES = ["Call", "Email", "Meeting", "Other"]
LEAD_STATUSES = ["Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
TASK_STATUSES = [("Not Started", False, True), ("In Progress", False, False), ("Completed", True, False),
                 ("Waiting on someone else", False, False), ("Deferred", False, False)]

SYSTEM = {"IsDeleted": "boolean", "CreatedDate": "datetime", "LastModifiedDate": "datetime", "SystemModstamp": "datetime"}


def field(name: str, type_: str = "string", *, length: int = 0, create: bool = True, update: bool = True,
          custom: bool | None = None, picklist: list[str] | None = None, restricted: bool = False,
          external: bool = False, unique: bool = False, reference: str = "", relationship: str = "",
          default: str | None = None, defaulted: bool = False) -> dict[str, Any]:
    if not length and type_ in ("string", "picklist", "email", "phone", "url", "combobox"):
        length = 255
    return {
        "name": name, "label": name.replace("__c", "").replace("_", " "), "type": type_, "length": length,
        "nillable": type_ != "boolean", "createable": create, "updateable": update and create,
        "defaultedOnCreate": defaulted or default is not None, "externalId": external, "unique": unique,
        "idLookup": name == "Id" or external, "caseSensitive": False,
        "referenceTo": [reference] if reference else [], "relationshipName": relationship or None,
        "custom": name.endswith("__c") if custom is None else custom,
        "restrictedPicklist": restricted,
        "picklistValues": [{"active": True, "defaultValue": v == default, "label": v, "validFor": None, "value": v}
                           for v in (picklist or [])],
    }


def _system(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [field("Id", "id", length=18, create=False)] + fields
    out += [field(n, t, create=False) for n, t in SYSTEM.items()]
    return out


def build() -> dict[str, dict[str, dict[str, Any]]]:
    objects: dict[str, list[dict[str, Any]]] = {
        "Account": _system([field("Name"), field("OwnerId", "reference", reference="User", relationship="Owner")]),
        "User": _system([field("FirstName", length=40), field("LastName", length=80), field("Name", create=False),
                         field("Email", "email"), field("Username"), field("TimeZoneSidKey", "picklist"),
                         field("IsActive", "boolean")]),
        "Contact": _system([
            field("FirstName", length=40), field("LastName", length=80), field("Name", create=False),
            field("Email", "email", length=80), field("Phone", "phone", length=40),
            field("MobilePhone", "phone", length=40), field("Title", length=128),
            field("AccountId", "reference", reference="Account", relationship="Account"),
            field("OwnerId", "reference", reference="User", relationship="Owner", defaulted=True),
            field("MailingCountry", length=80), field("MailingState", length=80),
            field("MailingCountryCode", "picklist"), field("MailingStateCode", "picklist"),
            field("HasOptedOutOfEmail", "boolean"), field("DoNotCall", "boolean"), field("LeadSource", "picklist"),
            field("MasterRecordId", "reference", create=False, reference="Contact", relationship="MasterRecord"),
            field("LastActivityDate", "date", create=False),
        ]),
        "Lead": _system([
            field("FirstName", length=40), field("LastName", length=80), field("Name", create=False),
            field("Email", "email", length=80), field("Phone", "phone", length=40),
            field("MobilePhone", "phone", length=40), field("Title", length=128), field("Company"),
            field("OwnerId", "reference", reference="User", relationship="Owner", defaulted=True),
            field("Country", length=80), field("State", length=80), field("CountryCode", "picklist"),
            field("StateCode", "picklist"), field("HasOptedOutOfEmail", "boolean"), field("DoNotCall", "boolean"),
            field("LeadSource", "picklist"),
            field("Status", "picklist", picklist=LEAD_STATUSES, default="Open - Not Contacted"),
            field("IsConverted", "boolean", create=False),
            field("ConvertedContactId", "reference", create=False, reference="Contact", relationship="ConvertedContact"),
            field("ConvertedDate", "date", create=False),
            field("MasterRecordId", "reference", create=False, reference="Lead", relationship="MasterRecord"),
        ]),
        "Task": _system([
            field("Subject", "combobox"), field("Description", "textarea", length=32000),
            field("ActivityDate", "date"), field("ReminderDateTime", "datetime"),
            field("IsReminderSet", "boolean", defaulted=True),
            field("Status", "picklist", picklist=[s for s, _, _ in TASK_STATUSES], restricted=True, default="Not Started"),
            field("IsClosed", "boolean", create=False),
            field("CompletedDateTime", "datetime", create=False),
            field("Priority", "picklist", picklist=PRIORITIES, restricted=True, default="Normal"),
            field("IsHighPriority", "boolean", create=False),
            field("Type", "picklist", picklist=TASK_TYPES, restricted=True),
            field("TaskSubtype", "picklist", picklist=TASK_SUBTYPES, restricted=True, update=False),
            field("CallType", "picklist", picklist=["Inbound", "Internal", "Outbound"], restricted=True),
            field("CallDisposition"), field("CallDurationInSeconds", "int"),
            field("WhoId", "reference", reference="Contact", relationship="Who"),  # polymorphic: Contact or Lead
            field("WhatId", "reference", reference="Account", relationship="What"),
            field("AccountId", "reference", create=False, reference="Account", relationship="Account"),
            field("OwnerId", "reference", reference="User", relationship="Owner", defaulted=True),
            field("IsArchived", "boolean", create=False),
        ]),
        "TaskStatus": [field("Id", "id", length=18, create=False), field("ApiName", create=False),
                       field("MasterLabel", create=False), field("IsClosed", "boolean", create=False),
                       field("IsDefault", "boolean", create=False), field("SortOrder", "int", create=False)],
    }
    return {name: {f["name"]: f for f in fields} for name, fields in objects.items()}
