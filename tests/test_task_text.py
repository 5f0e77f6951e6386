"""Task text without holes: every example script, for contacts with and without owner, company,
phone and referrer, renders with no empty variable; what has no value is a visible marker
that the plan reports for the contact; HubSpot bodies are HTML, not literal Markdown."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from connector.configfile import load_config
from connector.crm.hubspot.mapping import body_html
from sequences.config import Config
from sequences.engine import plan_contact
from sequences.records import Contact, ContactState, Owner
from sequences.scripts import _values, task_text
from sequences.templates import check_template, compile_template, render_checked, resolve

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
OWNER = Owner(id="o1", first_name="Dana", last_name="Whitfield", email="dana@example.com", timezone="America/New_York")
REFERRER = Contact(id="r1", first_name="Liam", last_name="O'Connor", company="Desert Sun Energy", owner_id="o1")


def contact(with_owner: bool, with_company: bool, with_phone: bool, with_referrer: bool, with_first: bool) -> Contact:
    return Contact(
        id="c1", first_name="Tom" if with_first else "", last_name="Baker", email="tom@example.com",
        phone="+12125550100" if with_phone else "", company="Acme Robotics" if with_company else "",
        owner_id="o1" if with_owner else "", referred_by="r1" if with_referrer else "", lifecycle_stage="lead",
        timezone="America/New_York", country="US",
    )


MATRIX = list(itertools.product([True, False], repeat=5))


def steps(config: Config):
    for cadence in config.cadences:
        for index, step in enumerate(cadence.steps):
            yield cadence, index, step


def templates_of(config: Config, step) -> list[str]:
    script = config.scripts.get(step.script) if step.script else None
    texts = [step.subject or (script.subject if script else ""),
             step.body if step.body is not None else (script.body if script else "")]
    if script is not None:
        texts += [t for o in script.objections for t in (o.objection, o.answer)]
    return texts


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_no_example_variable_renders_empty(path: Path) -> None:
    """For each example step and each contact shape, every variable resolves to a value, a stated
    fallback or a marker the plan reports; with an owner, no example script needs a marker."""
    config = load_config(path).config
    for flags in MATRIX:
        c = contact(*flags)
        with_owner, _, _, with_referrer, _ = flags
        owner = OWNER if with_owner else None
        referrer = REFERRER if with_referrer else None
        values = _values(c, owner, referrer, None)
        for cadence, index, step in steps(config):
            values.update({"cadence.name": cadence.name, "step.number": str(index + 1), "step.total": str(len(cadence.steps))})
            subject, body, missing = task_text(config, cadence, index, step, c, owner, referrer, None)
            for template in templates_of(config, step):
                for name, alternatives in compile_template(template)[1]:
                    text, marker = resolve(name, alternatives, values)
                    assert text.strip(), f"{path.name} {cadence.id}/{step.id}: {{{{{name}}}}} is blank for {flags}"
                    assert not marker or name in missing, f"{name} shown as a marker but not reported"
            assert "{{" not in subject + body
            assert subject.strip() and not re.search(r"(\bby|\bat|,|:)\s*$", subject), subject
            assert not re.search(r"it's \.|\(\s*[,)]|,\s*\)| \.", subject + body), (subject, body)
            if with_owner:
                assert missing == (), f"{path.name} {cadence.id}/{step.id} needs {missing} with everything known"
            else:
                assert all(m.startswith("owner.") for m in missing), missing


def test_the_hole_from_the_issue_is_a_marker_and_a_reported_note() -> None:
    """'Hi Tom, it's . I recruit...' for a contact with no owner becomes '[your first name]', and the plan says why."""
    config = load_config(ROOT / "examples" / "recruiting.yaml").config
    tom = contact(False, True, True, False, True)
    # no owners known at all: the unowned contact's task stays unassigned (guards.unowned round-robins
    # over the CRM's owners when there are some)
    plan = plan_contact(config, ContactState(tom), NOW, account="t", owners={})
    [task] = plan.creates
    assert "it's [your first name]." in task.body and "it's ." not in task.body
    notes = [n for n in plan.notes if n.kind == "text"]
    assert len(notes) == 1 and "the contact has no owner" in notes[0].reason and "owner.first_name" in notes[0].reason
    owned = plan_contact(config, ContactState(contact(True, True, True, False, True)), NOW, account="t",
                         owners={"o1": OWNER})
    assert not [n for n in owned.notes if n.kind == "text"] and "it's Dana." in owned.creates[0].body


def test_a_referral_subject_never_ends_in_referred_by_nothing() -> None:
    """'Call Sam: referred by ' cannot happen: the referrer's name, or the fallback the example states."""
    config = load_config(ROOT / "examples" / "recruiting.yaml").config
    cadence = config.cadence("warm-referral")
    sam = Contact(id="s1", first_name="Sam", owner_id="o1")
    subject, _, missing = task_text(config, cadence, 0, cadence.steps[0], sam, OWNER, None, None)
    assert subject == "Call Sam: referred by a contact" and missing == ()
    subject, _, _ = task_text(config, cadence, 0, cadence.steps[0], sam, OWNER, REFERRER, None)
    assert subject == "Call Sam: referred by Liam O'Connor"


def test_fallbacks_chain_variables_then_quoted_text() -> None:
    """`a or b or "text"`: the first with a value wins; text in quotes only last; bad fallbacks are config errors."""
    values = {"contact.first_name": "", "contact.full_name": "Tom Baker", "contact.company": ""}
    assert render_checked('{{contact.first_name or contact.full_name}} at {{contact.company or "their company"}}',
                          values) == ("Tom Baker at their company", ())
    assert render_checked("{{contact.company}}!", values) == ("[their company]!", ("contact.company",))
    for bad, words in [("{{contact.company or their}}", "put fallback text in quotes"),
                       ('{{contact.company or "x" or contact.title}}', "only be the last"),
                       ("{{contact.company or contact.titel}}", "did you mean {{contact.title}}")]:
        with pytest.raises(ValueError, match=re.escape(words)):
            check_template(bad)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_hubspot_bodies_are_html_without_literal_markdown(path: Path) -> None:
    """Every example body, rendered for HubSpot, has headings, bold and lists as HTML and no `##`, `**` or `- ` left."""
    config = load_config(path).config
    for flags in MATRIX[:: 5]:
        c = contact(*flags)
        owner = OWNER if flags[0] else None
        for cadence, index, step in steps(config):
            _, body, _ = task_text(config, cadence, index, step, c, owner, REFERRER if flags[3] else None, None)
            html = body_html(body)
            parsed = _Text()
            parsed.feed(html)
            text = "".join(parsed.text)
            assert "##" not in text and "**" not in text and "{{" not in text
            assert not re.search(r"^\s*(?:[-*] |\d+\. |> )", text, re.M), text
            if "**" in body or "\n## " in "\n" + body:
                assert "strong" in parsed.tags
            if re.search(r"^\d+\. ", body, re.M):
                assert "ol" in parsed.tags and "li" in parsed.tags


def test_hubspot_body_escapes_markup_from_contact_data() -> None:
    """A name with angle brackets is text in the HubSpot body, never markup."""
    assert body_html("Hi <script>alert(1)</script> **there**") == \
        "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; <strong>there</strong></p>"
