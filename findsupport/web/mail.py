"""E-mail: the address grammar we accept and every message findsupport sends, composed and checked here.

Three rules keep a message exactly what the server meant to send, on every
Python the package allows:

* **User text reaches a header only when it is plain** (:func:`header_text`):
  no ``=?`` and no control, surrogate or line/paragraph-separator character.
  The standard library *decodes* RFC 2047 encoded words when a header is set,
  and before 3.11.10 / 3.12.5 it wrote what they decoded to verbatim, so a
  name such as ``=?utf-8?q?Sam=0D=0ABcc:_x@example.org?=`` became a real
  ``Bcc:`` header.  Text that is not plain is left out of the header (a
  display name is dropped, a subject uses its fixed wording); it still appears
  in the body, which is never parsed as headers.
* **Addresses are plain ASCII on the wire** (:func:`normalise_address`): the
  part before the ``@`` is an RFC 5322 dot-atom of ASCII characters (no
  SMTPUTF8 needed), and a non-ASCII domain is IDNA-encoded.  The same function
  validates a request and checks a stored row, so anything accepted can be
  sent.
* **Every message is verified before it leaves** (:func:`verified`): it is
  serialised as :mod:`smtplib` sends it (``policy.SMTP``) and as the outbox
  folder stores it (``bytes(message)``), parsed back, and must carry exactly
  the headers set here and a single ``text/plain`` part.  Otherwise
  :class:`ComposeError` is raised and nothing is sent.

Examples
--------
>>> normalise_address("Robin@Bücher.example")
'Robin@xn--bcher-kva.example'
>>> header_text("=?utf-8?q?Sam?=") is None, header_text("Zoë O'Neill")
(True, "Zoë O'Neill")
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol

from ..config import Settings
from ..errors import FindSupportError, InvalidInput

__all__ = [
    "Contact",
    "ComposeError",
    "normalise_address",
    "header_text",
    "unsafe_text",
    "mailbox",
    "verified",
    "compose_introduction",
    "INTRODUCTION_HEADER",
    "MESSAGE_ID_DOMAIN",
]

#: Names the introduction an e-mail is about (the outbox folder names its files by it).
INTRODUCTION_HEADER = "X-Findsupport-Introduction"
#: Message-IDs are ours, not any real host's (and looking the host up could hang a worker).
MESSAGE_ID_DOMAIN = "findsupport.invalid"

#: RFC 5322 ``atext``: what a dot-atom local part may hold without quoting.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")
#: An LDH host-name label (RFC 1035/5890, after IDNA encoding).
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: RFC 5321: a local part of at most 64 octets, a domain of at most 255.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
#: Unicode categories never allowed in a header: controls, lone surrogates, line and paragraph
#: separators.  ``str.splitlines`` (which the e-mail library folds with) breaks lines at several of them.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: In a body, only these controls are text (tab and line breaks).
_BODY_CONTROLS = frozenset("\t\n\r")


class Contact(Protocol):
    """What a message needs of a provider: ``name`` and ``email`` (never shown publicly)."""

    name: str
    email: str


class ComposeError(FindSupportError, ValueError):
    """Stored text cannot become a safe e-mail; the introduction is undeliverable.

    The message names what could not be used, never the text itself (it may
    hold an address, and it goes to the log).
    """

    title = "Cannot compose the e-mail"
    code = "cannot-compose"


def unsafe_text(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` cannot be stored for an e-mail, or ``None`` when it can.

    Refused everywhere: control characters (C0, DEL and C1 such as U+0085),
    lone surrogates and the separators U+2028/U+2029 (the e-mail library's
    line splitting breaks lines at several of them).  ``multiline`` text (a
    message body) may hold tab, CR and LF.
    """
    for char in text:
        category = unicodedata.category(char)
        if category not in _UNSAFE_CATEGORIES or (multiline and char in _BODY_CONTROLS):
            continue
        kind = {"Cc": "a control character", "Cs": "an unpaired surrogate"}.get(category, "a line separator")
        return f"contains {kind} (U+{ord(char):04X})"
    return None


def header_text(text: str) -> str | None:
    """``text`` if it may appear in a header as it is, else ``None``.

    Plain means: no ``=?`` (the e-mail library would decode it as an encoded
    word) and nothing :func:`unsafe_text` refuses.  Non-ASCII letters are fine:
    the library encodes them on output, and that direction is safe.
    """
    if "=?" in text or unsafe_text(text) is not None:
        return None
    return text


def normalise_address(text: str) -> str:
    """An e-mail address as findsupport stores and sends it: ASCII, the domain IDNA-encoded.

    Parameters
    ----------
    text : str
        ``local@domain``, already stripped of surrounding spaces.

    Returns
    -------
    str
        The same address with its domain in ASCII (``xn--`` labels).

    Raises
    ------
    InvalidInput
        With a sentence saying what to change.  The local part must be an
        ASCII dot-atom (letters, digits and ``.!#$%&'*+/=?^_`{|}~-``) without
        ``=?``: servers are not required to accept anything else (SMTPUTF8).

    Examples
    --------
    >>> normalise_address("sam@example.org")
    'sam@example.org'
    >>> normalise_address("josé@example.org")
    Traceback (most recent call last):
    ...
    findsupport.errors.InvalidInput: The part of your e-mail address before the @ can only use ...
    """
    example = "(e.g. sam@example.org)"
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise InvalidInput(f"That does not look like an e-mail address {example}.")
    if not _LOCAL_PART.fullmatch(local) or "=?" in local or len(local) > MAX_LOCAL_PART:
        raise InvalidInput(
            "The part of your e-mail address before the @ can only use unaccented letters, digits and "
            f".!#$%&'*+/=?^_`{{|}}~- (no spaces, no two dots in a row, no '=?'), at most {MAX_LOCAL_PART} "
            f"characters {example}."
        )
    try:
        # One trailing dot is the DNS root ("example.org."); more is a typo.
        ascii_domain = domain.removesuffix(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(f"The domain of your e-mail address (after the @) is not a valid domain name {example}.") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or len(ascii_domain) > MAX_DOMAIN or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(f"The domain of your e-mail address (after the @) is not a valid domain name {example}.")
    return f"{local}@{ascii_domain}"


def mailbox(addr_spec: str, display_name: str | None = None) -> Address:
    """An address for a header, with ``display_name`` only when it is plain (:func:`header_text`).

    Raises
    ------
    ComposeError
        When ``addr_spec`` is not an address :func:`normalise_address` accepts unchanged.
    """
    try:
        plain = normalise_address(addr_spec)
    except InvalidInput:
        plain = None
    if plain != addr_spec:
        raise ComposeError("an address is not a plain ASCII address")
    return Address(display_name=header_text(display_name or "") or "", addr_spec=addr_spec)


def _address_specs(value: Any) -> list[str]:
    return [address.addr_spec for address in getattr(value, "addresses", ())]


def verified(message: EmailMessage) -> EmailMessage:
    """Check that ``message`` serialises to exactly what was set; return it.

    It is serialised as :mod:`smtplib` sends it and as the outbox folder stores
    it, and parsed back: the header names (in order, with repeats), every
    address and the subject must be those set, and there must be one
    ``text/plain`` part.

    Raises
    ------
    ComposeError
        When any serialisation fails or differs (the introduction is then undeliverable).
    """
    expected_names = [name.lower() for name in message.keys()]
    expected_addresses = {name: _address_specs(message[name]) for name in ("from", "to", "reply-to")}
    try:
        wire = [message.as_bytes(policy=policy.SMTP), bytes(message)]
    except Exception as exc:  # noqa: BLE001 - any failure to serialise means "do not send"; the type is kept
        raise ComposeError(f"the e-mail cannot be serialised ({type(exc).__name__})") from exc
    for data in wire:
        parsed = message_from_bytes(data, policy=policy.default)
        if [name.lower() for name in parsed.keys()] != expected_names:
            raise ComposeError("the serialised e-mail does not carry exactly the headers that were set")
        if {name: _address_specs(parsed[name]) for name in expected_addresses} != expected_addresses:
            raise ComposeError("an address changed when the e-mail was serialised")
        # Folding may move words to a continuation line; only the words must survive.
        if str(parsed["Subject"]).split() != str(message["Subject"]).split():
            raise ComposeError("the subject changed when the e-mail was serialised")
        if parsed.is_multipart() or parsed.get_content_type() != "text/plain":
            raise ComposeError("the serialised e-mail is not a single text part")
    return message


def _quoted(text: str) -> str:
    # CR LF, CR and LF all end a line; the body carries LF line breaks only.
    return "\n".join(f"> {line}" for line in text.splitlines())


def _new_message(
    *,
    subject: str,
    to: Address,
    reply_to: Address | None,
    settings: Settings,
    date: datetime,
    message_id: str,
    headers: Sequence[tuple[str, str]] = (),
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.mail_from
    message["To"] = to
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Date"] = format_datetime(date.replace(tzinfo=UTC))
    message["Message-ID"] = make_msgid(idstring=message_id, domain=MESSAGE_ID_DOMAIN)
    for name, value in headers:
        message[name] = value
    return message


def compose_introduction(introduction: Mapping[str, Any], contact: Contact, settings: Settings) -> EmailMessage:
    """The e-mail to a provider for one stored introduction, verified (:func:`verified`).

    The coach's address is the ``Reply-To``, so the provider answers the coach
    directly.  The coach's and the provider's names appear in headers only
    when they are plain (:func:`header_text`); they are always in the body.

    Parameters
    ----------
    introduction : mapping
        A row of the ``introductions`` table (``id``, ``created_at``,
        ``coach_name``, ``coach_email``, ``message``).
    contact : Contact
        The provider's name and private address.
    settings : Settings
        ``mail_from`` and ``public_url``.

    Raises
    ------
    ComposeError
        When the stored text cannot make a safe e-mail.
    """
    introduction_id = str(introduction["id"])
    coach = introduction["coach_name"]
    coach_email = introduction["coach_email"]
    for label, text, multiline in (("coach name", coach, False), ("provider name", contact.name, False),
                                   ("message", introduction["message"], True)):
        if unsafe_text(text, multiline=multiline) is not None:
            raise ComposeError(f"the {label} cannot be used in an e-mail")
    plain_coach = header_text(coach)
    subject = f"Introduction request from {plain_coach} (findsupport)" if plain_coach else "Introduction request (findsupport)"
    message = _new_message(
        subject=subject,
        to=mailbox(contact.email, contact.name),
        reply_to=mailbox(coach_email, coach),
        settings=settings,
        date=introduction["created_at"],
        message_id=introduction_id,
        headers=[(INTRODUCTION_HEADER, introduction_id)],
    )
    site = settings.public_url.rstrip("/") or "findsupport"
    message.set_content(
        f"Hello {contact.name},\n\n"
        f"{coach} found you on {site} and would like an introduction.\n\n"
        f"Their message:\n\n{_quoted(introduction['message'])}\n\n"
        f"To answer, reply to this e-mail: your reply goes to {coach} at {coach_email}.\n"
        "If you cannot help at the moment, no reply is needed. Your own e-mail address has not "
        "been shared with them.\n\n"
        "-- \nSent by findsupport on behalf of the coach named above.\n"
    )
    return verified(message)
