"""Spreadsheet formula injection: neutralise text cells on the way out, undo it on the way in.

A spreadsheet treats a cell starting with ``=``, ``+``, ``-`` or ``@`` (and,
in some programs, a tab or carriage return) as a formula; a provider's
name or bio could then run something on an administrator's machine when an
export is opened.  OWASP's advice, followed here: prefix such a text cell
with a single quote, which every spreadsheet shows as text.

Import strips that one quote again when it is followed by a trigger
character, so export → import gives back exactly the stored value.

Examples
--------
>>> neutralise("=HYPERLINK(\\"http://evil\\")")
'\\'=HYPERLINK("http://evil")'
>>> neutralise("Sam Kestrel")
'Sam Kestrel'
>>> restore(neutralise("-5 jokes"))
'-5 jokes'
"""

from __future__ import annotations

__all__ = ["FORMULA_TRIGGERS", "neutralise", "restore"]

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def neutralise(text: str) -> str:
    """Prefix a single quote when ``text`` would be read as a formula."""
    return _QUOTE + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """Undo :func:`neutralise` (a quote followed by a trigger character loses the quote)."""
    if text.startswith(_QUOTE) and text[1:].startswith(FORMULA_TRIGGERS):
        return text[1:]
    return text
