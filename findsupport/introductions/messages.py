"""Every e-mail of the introduction loop, composed in one place.

:func:`compose` turns one queued message (its ``kind`` and ``recipient``) and
the facts it needs (:class:`MessageFacts`) into an :class:`EmailMessage`:
plain text plus a simple HTML alternative built from the same blocks, so
they always say the same thing.

Safety rules, kept here and nowhere else:

* **headers** hold no text a person typed: the subject is fixed per kind, the
  only addresses are bare ``local@domain`` specs that passed
  :func:`~.addresses.safe_addr_spec` (no display names), and the ids in
  ``Message-ID`` and ``X-Findsupport-*`` are our own hex ids and codes;
* in HTML every text a person typed (names, the coach's message, the
  provider's note) is escaped as text;
* before acceptance no message carries the coach's e-mail address to the
  provider, nor the provider's to the coach; the coach's location appears as
  their postcode sector only.

Kinds (recipient in brackets): ``request`` (provider), ``confirmation``
(coach), ``reminder`` (provider), ``accepted`` (coach and provider),
``declined`` (coach), ``expired`` (coach), ``withdrawn`` (provider),
``paused`` (provider), ``manage`` (provider: a fresh manage link they asked
for; the only kind with no introduction), ``outcome`` (coach and provider).
"""

from __future__ import annotations

import email
import email.errors
import email.policy
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from datetime import UTC, datetime
from email.utils import format_datetime, make_msgid
from typing import Any

from .. import taxonomy
from .addresses import UnsafeAddress, safe_addr_spec
from .model import Introduction

__all__ = [
    "compose",
    "CannotCompose",
    "MessageFacts",
    "Links",
    "KINDS",
    "SUBJECTS",
    "RECIPIENTS",
    "describe_request",
    "days_phrase",
    "MESSAGE_ID_DOMAIN",
]

#: Message-IDs name no real host (which would say where the server runs).
MESSAGE_ID_DOMAIN = "findsupport.invalid"

#: Fixed subjects: no person-typed text ever reaches a header.
SUBJECTS: dict[str, str] = {
    "request": "A coach would like an introduction (findsupport)",
    "confirmation": "Your introduction request is on its way (findsupport)",
    "reminder": "Reminder: a coach is waiting for your answer (findsupport)",
    "accepted": "Introduction accepted: contact details inside (findsupport)",
    "declined": "About your introduction request (findsupport)",
    "expired": "About your introduction request (findsupport)",
    "withdrawn": "An introduction request was withdrawn (findsupport)",
    "paused": "Your findsupport listing is paused (findsupport)",
    "manage": "Your link to manage your findsupport listing (findsupport)",
    "outcome": "Did you meet? One click to tell us (findsupport)",
}
KINDS: tuple[str, ...] = tuple(SUBJECTS)
#: Who may receive each kind.
RECIPIENTS: dict[str, tuple[str, ...]] = {
    "request": ("provider",),
    "confirmation": ("coach",),
    "reminder": ("provider",),
    "accepted": ("coach", "provider"),
    "declined": ("coach",),
    "expired": ("coach",),
    "withdrawn": ("provider",),
    "paused": ("provider",),
    "manage": ("provider",),
    "outcome": ("coach", "provider"),
}


@dataclass(frozen=True)
class Links:
    """The signed links a message may carry (absolute URLs; empty when not relevant)."""

    respond: str = ""
    manage: str = ""
    cancel: str = ""
    finder: str = ""
    #: Outcome check-in, one click each: ``(label, url)``.
    outcome: tuple[tuple[str, str], ...] = ()
    #: Next best matches of the same search: ``(provider name, url)``.
    matches: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class MessageFacts:
    """Everything :func:`compose` may say; the lifecycle fills in what a kind needs.

    ``provider_email`` is used only as the provider's own recipient address and,
    after acceptance, in the coach's ``accepted`` message.
    """

    introduction: Introduction | None
    provider_name: str
    provider_email: str = field(repr=False)
    mail_from: str
    site: str
    links: Links = Links()
    expiry_days: float = 7.0
    replies_within_days: int | None = None
    #: The message's ``Date`` (aware UTC); now when not given.
    date: datetime | None = None


Block = tuple[Any, ...]


class CannotCompose(UnsafeAddress):
    """Stored text that no e-mail can carry as it is (an unpaired surrogate in a row older than the
    rules of :mod:`.validation`, say): the message is undeliverable, like one with an unusable address."""


def describe_request(introduction: Introduction) -> list[tuple[str, str]]:
    """What the coach asked, as ``(label, value)`` lines (public granularity: sector, never postcode)."""
    asked = introduction.asked
    lines: list[tuple[str, str]] = [("Coach", introduction.coach_name)]
    if asked.level:
        lines.append(("Their level", taxonomy.QUALIFICATION_LABELS.get(asked.level, asked.level)))
    if asked.role:
        lines.append(("Looking for", taxonomy.ROLE_LABELS.get(asked.role, asked.role)))
    if asked.event:
        event = taxonomy.EVENT_LABELS.get(asked.event) or taxonomy.EVENT_GROUP_LABELS.get(asked.event, asked.event)
        lines.append(("Event", event))
    if asked.slots:
        lines.append(("Times", ", ".join(taxonomy.slot_label(s) for s in asked.slots)))
    if asked.mode:
        lines.append(("How", taxonomy.MODE_LABELS.get(asked.mode, asked.mode)))
    if asked.sector:
        lines.append(("Area", f"{asked.sector} (postcode sector)"))
    return lines


def days_phrase(days: float) -> str:
    """Whole days as people say them: ``"1 day"``, ``"7 days"`` (at least one)."""
    whole = max(1, round(days))
    return "1 day" if whole == 1 else f"{whole} days"


def _body(kind: str, recipient: str, f: MessageFacts) -> list[Block]:
    links = f.links
    if kind == "manage":
        return [
            ("p", f"Hello {f.provider_name},"),
            ("p", f"Someone (we hope you) asked {f.site} for a link to manage your listing. If it was not you, "
                  "ignore this e-mail: nothing changes unless the link is used."),
            ("link", "Manage your listing (availability, places, pause or resume)", links.manage),
        ]
    intro = f.introduction
    if intro is None:
        raise ValueError(f"a {kind} message needs its introduction")
    coach, provider = intro.coach_name, f.provider_name
    if kind == "request":
        return [
            ("p", f"Hello {provider},"),
            ("p", f"A coach found you on {f.site} and would like an introduction."),
            ("facts", describe_request(intro)),
            ("p", "Their message:"),
            ("quote", intro.message),
            ("p", "Please accept or decline (you may add a short note). Your e-mail address is shared "
                  "with the coach only if you accept, and theirs with you."),
            ("link", "Accept or decline", links.respond),
            ("p", f"If you do not answer within {days_phrase(f.expiry_days)}, the request lapses and the coach is told."),
            ("link", "Manage your listing (availability, places, pause)", links.manage),
        ]
    if kind == "confirmation":
        expect = (f"{provider} usually replies within {days_phrase(f.replies_within_days)}. "
                  if f.replies_within_days else "")
        return [
            ("p", f"Hello {coach},"),
            ("p", f"Your request for an introduction to {provider} is on its way. You asked for:"),
            ("facts", describe_request(intro)[1:]),
            ("p", f"{expect}You will hear from us when they answer, or after {days_phrase(f.expiry_days)} if they "
                  "do not. Your e-mail address is shared with them only if they accept."),
            ("link", "Cancel this request", links.cancel),
        ]
    if kind == "reminder":
        return [
            ("p", f"Hello {provider},"),
            ("p", f"{coach} is still waiting for your answer to their introduction request:"),
            ("facts", describe_request(intro)[1:]),
            ("link", "Accept or decline", links.respond),
            ("p", "If you cannot take anyone on at the moment, declining (or pausing your listing) "
                  "lets the coach look elsewhere sooner."),
            ("link", "Manage your listing", links.manage),
        ]
    if kind == "accepted" and recipient == "coach":
        blocks: list[Block] = [
            ("p", f"Hello {coach},"),
            ("p", f"Good news: {provider} accepted your introduction request. You can contact them at:"),
            ("facts", [("Name", provider), ("E-mail", safe_addr_spec(f.provider_email))]),
        ]
        if intro.note:
            blocks += [("p", "Their note:"), ("quote", intro.note)]
        return blocks + [("p", "They have your name and e-mail address too. Enjoy the sessions!")]
    if kind == "accepted":
        return [
            ("p", f"Hello {provider},"),
            ("p", "Thank you for accepting. The coach's contact details:"),
            ("facts", [("Name", coach), ("E-mail", safe_addr_spec(intro.coach_email))]),
            ("p", "They have your name and e-mail address too. One of your places is now taken; "
                  "you can change your places at any time."),
            ("link", "Manage your listing", links.manage),
        ]
    if kind in ("declined", "expired"):
        reason = (f"{provider} cannot take on your request at the moment."
                  if kind == "declined" else f"{provider} has not been able to answer your request in time.")
        blocks = [("p", f"Hello {coach},"), ("p", f"{reason} Please don't be discouraged: volunteers' "
                                                   "circumstances change, and there are others who can help.")]
        if kind == "declined" and intro.note:
            blocks += [("p", "Their note:"), ("quote", intro.note)]
        blocks += [("link", f"Other matches: {name}", url) for name, url in links.matches]
        return blocks + [("link", "See other matches for the same search", links.finder)]
    if kind == "withdrawn":
        return [
            ("p", f"Hello {provider},"),
            ("p", f"{coach} has withdrawn their introduction request; there is nothing you need to do."),
        ]
    if kind == "paused":
        return [
            ("p", f"Hello {provider},"),
            ("p", "Several introduction requests in a row have lapsed without an answer, so we have paused "
                  "your listing: coaches do not see you until you resume it. Nothing else has changed."),
            ("link", "Resume (or update) your listing", links.manage),
        ]
    if kind == "outcome":
        other = provider if recipient == "coach" else coach
        blocks = [
            ("p", f"Hello {coach if recipient == 'coach' else provider},"),
            ("p", f"A few weeks ago you were introduced to {other} through {f.site}. Did you meet, and was it "
                  "helpful? One click answers; it helps us suggest better matches to other coaches."),
        ]
        return blocks + [("link", label, url) for label, url in links.outcome]
    raise ValueError(f"Got kind={kind!r}; kind must be one of {', '.join(KINDS)}")


def _text(blocks: Sequence[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        if block[0] == "p":
            parts.append(block[1])
        elif block[0] == "quote":
            parts.append("\n".join(f"> {line}" for line in block[1].splitlines() or [""]))
        elif block[0] == "facts":
            parts.append("\n".join(f"  {label}: {value}" for label, value in block[1]))
        elif block[0] == "link" and block[2]:
            parts.append(f"{block[1]}:\n{block[2]}")
    return "\n\n".join(parts) + "\n\n-- \nSent by findsupport. Please do not reply to this e-mail.\n"


def _html(blocks: Sequence[Block]) -> str:
    e = html.escape
    parts: list[str] = []
    for block in blocks:
        if block[0] == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif block[0] == "quote":
            lines = "<br>".join(e(line) for line in block[1].splitlines())
            parts.append(f'<blockquote style="white-space:pre-wrap">{lines}</blockquote>')
        elif block[0] == "facts":
            rows = "".join(f"<tr><th scope=\"row\" align=\"left\">{e(k)}</th><td>{e(v)}</td></tr>" for k, v in block[1])
            parts.append(f"<table>{rows}</table>")
        elif block[0] == "link" and block[2]:
            parts.append(f'<p><a href="{e(block[2], quote=True)}">{e(block[1])}</a></p>')
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>findsupport</title></head>\n'
        f"<body>\n{body}\n<p><small>Sent by findsupport. Please do not reply to this e-mail.</small></p>\n"
        "</body></html>\n"
    )


def compose(kind: str, recipient: str, facts: MessageFacts) -> EmailMessage:
    """The e-mail of ``kind`` to ``recipient`` (``"provider"`` or ``"coach"``).

    Raises
    ------
    UnsafeAddress
        The recipient's (or, in an ``accepted`` message, the other party's)
        address cannot go into a header or a body safely: the message is
        undeliverable as it stands.
    ValueError
        An unknown kind, or a recipient that kind is never sent to.
    """
    if recipient not in RECIPIENTS.get(kind, ()):
        raise ValueError(f"Got kind={kind!r}, recipient={recipient!r}; {kind} goes to {RECIPIENTS.get(kind)}")
    intro = facts.introduction
    if intro is None and recipient != "provider":
        raise ValueError(f"a {kind} message to the {recipient} needs its introduction")
    to = safe_addr_spec(facts.provider_email if recipient == "provider" else intro.coach_email)
    blocks = _body(kind, recipient, facts)
    message = EmailMessage()
    message["Subject"] = SUBJECTS[kind]
    message["From"] = facts.mail_from
    message["To"] = to
    if kind == "accepted":
        # The one place a reply should reach the other person: after both agreed.
        message["Reply-To"] = safe_addr_spec(intro.coach_email if recipient == "provider" else facts.provider_email)
    message["Date"] = format_datetime(facts.date or datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=f"{kind}.{recipient}.{intro.id if intro else 'listing'}",
                                       domain=MESSAGE_ID_DOMAIN)
    if intro is not None:
        message["X-Findsupport-Introduction"] = intro.id
    message["X-Findsupport-Kind"] = kind
    try:
        message.set_content(_text(blocks))
        message.add_alternative(_html(blocks), subtype="html")
    except UnicodeError:
        raise CannotCompose("The stored text cannot be written as UTF-8; the e-mail was not sent.") from None
    return _verified(message)


def _verified(message: EmailMessage) -> EmailMessage:
    """``message`` if, serialised as SMTP sends it and as the folder stores it, it parses back to the same headers.

    A belt to the braces above: should a future change let text reach a header
    that the e-mail library turns into a new header line, nothing is sent.
    """
    def headers(m: Any) -> list[tuple[str, str]]:
        # The MIME boundary parameter is chosen at serialisation: compare the content type without it.
        return [(name.lower(), m.get_content_type() if name.lower() == "content-type" else str(value))
                for name, value in m.items()]

    expected = headers(message)
    try:
        wires = (message.as_bytes(policy=email.policy.SMTP), bytes(message))
    except (UnicodeError, ValueError, email.errors.MessageError):
        raise CannotCompose("The composed e-mail cannot be serialised; it was not sent.") from None
    for wire in wires:
        if headers(email.message_from_bytes(wire, policy=email.policy.default)) != expected:
            raise UnsafeAddress("The composed e-mail's headers did not survive serialisation; it was not sent.")
    return message
