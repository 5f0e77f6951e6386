"""Who may be contacted, on which channel: opt-outs, bounces and do-not-contact, in one place.

The CRM adapters hand over a contact's opt-outs as words (channel names, "all", "bounced");
`reach_of` turns them once into typed sets, and every decision the engine makes about
whether a channel may be used (skip a step, withdraw a task, end an enrollment, hold a
thank-you) asks the same `Reach`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .records import Channel, Contact, Outcome, TaskState

ALL = "all"
BOUNCED = "bounced"


@dataclass(frozen=True, slots=True)
class Reach:
    opted_out: frozenset[Channel]  # channels the contact opted out of
    everything: bool  # opted out of all contact
    do_not_contact: bool
    bounced: bool  # email bounced (a CRM flag, or an outcome recorded on a task)

    @property
    def stopped(self) -> bool:
        """Nobody may contact this person any more (do not contact, or opted out of everything)."""
        return self.do_not_contact or self.everything

    def closed_reason(self, channel: Channel) -> str | None:
        """Why `channel` may not be used for this contact, or None when it may."""
        if self.stopped:
            return "marked do not contact" if self.do_not_contact else "opted out of all contact"
        if channel in self.opted_out:
            return f"opted out of {channel.value}"
        if channel is Channel.EMAIL and self.bounced:
            return "email bounced"
        return None


@lru_cache(maxsize=256)
def _parse(words: frozenset[str]) -> tuple[frozenset[Channel], bool, bool]:
    channels = frozenset(Channel(w) for w in words if w in _CHANNEL_VALUES)
    return channels, ALL in words, BOUNCED in words


_CHANNEL_VALUES = frozenset(c.value for c in Channel)
_NOBODY_OUT = Reach(frozenset(), False, False, False)


def reach_of(contact: Contact, tasks: Iterable[TaskState] = ()) -> Reach:
    """The contact's reach, from its CRM flags and the outcomes recorded on its tasks."""
    bounced_task = False
    for t in tasks:
        if t.outcome is Outcome.BOUNCED:
            bounced_task = True
            break
    if not contact.opted_out and not contact.do_not_contact and not bounced_task:
        return _NOBODY_OUT
    channels, everything, bounced = _parse(contact.opted_out)
    return Reach(channels, everything, contact.do_not_contact, bounced or bounced_task)


def channel_of(value: str) -> Channel | None:
    """A channel by its stored name ("" or an unknown word: None)."""
    return Channel(value) if value in _CHANNEL_VALUES else None
