"""What a person may type into an introduction: the one set of text rules, checked before anything is stored.

Everything accepted here can be sent: no text a person typed ever reaches a
mail header (:mod:`.messages` puts names and messages in bodies only, and
addresses pass :func:`~.addresses.safe_addr_spec`), and a body refuses only
what no mail system carries faithfully:

* anywhere: control characters (C0, DEL and C1 such as U+0085), unpaired
  surrogates (JSON can spell them) and the separators U+2028/U+2029, at which
  the e-mail library and many readers break lines;
* in one-line text (a name, an id), also tab, CR and LF.

Examples
--------
>>> unsafe_text("Zoë O'Neill") is None, unsafe_text("Sam\\u2028Bcc: x@y.example")
(True, 'contains a line separator (U+2028)')
>>> unsafe_text("Line one\\r\\nline two\\tend", multiline=True) is None
True
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from .addresses import UnsafeAddress, safe_addr_spec
from .tables import MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_PROVIDER_ID_CHARS, MAX_SEARCH_ID_CHARS

__all__ = ["unsafe_text", "clean_text", "RequestFields", "check_request"]

#: Unicode categories refused in any text: controls, lone surrogates, line and paragraph separators.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
#: In multi-line text (a message, a note) only these controls are text: tab and line breaks.
_BODY_CONTROLS = frozenset("\t\n\r")


def unsafe_text(text: str, *, multiline: bool = False) -> str | None:
    """Why ``text`` cannot go into an e-mail as typed (``"contains ..."``), or ``None`` when it can."""
    for char in text:
        category = unicodedata.category(char)
        if category not in _UNSAFE_CATEGORIES or (multiline and char in _BODY_CONTROLS):
            continue
        kind = {"Cc": "a control character", "Cs": "an unpaired surrogate"}.get(category, "a line separator")
        return f"contains {kind} (U+{ord(char):04X})"
    return None


def clean_text(value: Any, field: str, limit: int, label: str, *, multiline: bool = False,
               required: bool = True) -> str | None:
    """``value`` stripped, or :class:`InvalidInput` naming ``field`` with a sentence a person can act on.

    Parameters
    ----------
    value : any
        What was sent (JSON may send anything).
    field : str
        The field's name, echoed in the error's ``field``.
    limit : int
        Most characters allowed (after stripping).
    label : str
        How the field is called in a sentence ("your name").
    multiline : bool
        Allow tab and line breaks (a message, a note).
    required : bool
        An empty value is an error (else ``None``).
    """
    sentence_label = label[0].upper() + label[1:]
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidInput(f"Please give {label}.", field=field)
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text; got {type(value).__name__}.", field=field)
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{sentence_label} must be at most {limit} characters; got {len(value)}.", field=field)
    problem = unsafe_text(value, multiline=multiline)
    if problem is not None:
        raise InvalidInput(f"{sentence_label} {problem}; please remove it.", field=field)
    return value


@dataclass(frozen=True, slots=True)
class RequestFields:
    """A coach's introduction request, checked: everything here can be stored and sent."""

    provider_id: str
    name: str
    email: str
    message: str
    search_id: str | None = None


def check_request(provider_id: Any, *, name: Any, email: Any, message: Any, search_id: Any = None,
                  max_message_chars: int) -> RequestFields:
    """Check a request's fields in order; the address comes back as it is stored and sent (IDNA domain).

    Raises
    ------
    InvalidInput
        The first bad field (``extra["field"]`` names it).

    Examples
    --------
    >>> check_request("p1", name="Sam", email="sam@Bücher.example", message="Hi", max_message_chars=2000).email
    'sam@xn--bcher-kva.example'
    """
    provider_id = clean_text(provider_id, "provider_id", MAX_PROVIDER_ID_CHARS, "the provider_id")
    name = clean_text(name, "name", MAX_NAME_CHARS, "your name")
    email = clean_text(email, "email", MAX_EMAIL_CHARS, "your e-mail address")
    try:
        email = safe_addr_spec(email)
    except UnsafeAddress as exc:
        raise InvalidInput(str(exc), field="email") from None
    message = clean_text(message, "message", max_message_chars, "a short message", multiline=True)
    search_id = clean_text(search_id, "search_id", MAX_SEARCH_ID_CHARS, "the search_id", required=False)
    return RequestFields(provider_id, name, email, message, search_id)
