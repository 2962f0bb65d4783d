"""The one safe path for an e-mail address into a mail header.

Headers carry no text a person typed, except an address that passed
:func:`safe_addr_spec`: a bare ``local@domain`` (no display name, no comment,
no quoting), with an ASCII dot-atom local part and a domain that is ASCII or
converts to ASCII by IDNA.  Anything else cannot reach a header, so no name
or encoded word (``=?utf-8?q?Sam=0D=0ABcc:...?=``) can add a header or a
recipient.  Names appear only in the body.

Examples
--------
>>> safe_addr_spec(" Sam.Kestrel@Example.ORG ")
'Sam.Kestrel@example.org'
>>> safe_addr_spec("coach@bücher.example")
'coach@xn--bcher-kva.example'
>>> safe_addr_spec("sam@example.org\\r\\nBcc: x@y.example")
Traceback (most recent call last):
...
findsupport.introductions.addresses.UnsafeAddress: That does not look like an e-mail address (e.g. sam@example.org).
"""

from __future__ import annotations

import re

__all__ = ["safe_addr_spec", "UnsafeAddress", "MAX_ADDRESS_CHARS", "MAX_LOCAL_CHARS", "ATEXT", "LABEL_PATTERN"]

#: RFC 5321: a forward path holds at most 254 characters of address ...
MAX_ADDRESS_CHARS = 254
#: ... and a local part at most 64.
MAX_LOCAL_CHARS = 64

#: RFC 5322 atext, the characters of a dot-atom (as the inside of a character class):
#: no spaces, quotes, angle brackets, commas, colons or controls.
ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
#: One DNS label: letters, digits and inner hyphens, at most 63 (unanchored; the
#: OpenAPI document uses it too, so it is valid ECMA-262 as well as Python).
LABEL_PATTERN = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_LOCAL = re.compile(rf"^[{ATEXT}]+(?:\.[{ATEXT}]+)*$")
# Checked after IDNA and lower-casing, so upper case never reaches it.
_LABEL = re.compile(rf"^{LABEL_PATTERN}$")


class UnsafeAddress(ValueError):
    """An address that cannot go into a header as it is (the message to its owner is undeliverable)."""


def safe_addr_spec(address: object) -> str:
    """``address`` as a plain ASCII ``local@domain`` safe for any header, or :class:`UnsafeAddress`.

    The domain is lower-cased and IDNA-encoded; the local part is kept as given
    (it may be case-sensitive) but must be ASCII: an SMTPUTF8 local part is
    refused rather than sent to a relay that may not support it.
    """
    example = "(e.g. sam@example.org)"
    problem = UnsafeAddress(f"That does not look like an e-mail address {example}.")
    if not isinstance(address, str):
        raise problem
    address = address.strip()
    if not 3 <= len(address) <= MAX_ADDRESS_CHARS or address.count("@") != 1:
        raise problem
    local, domain = address.split("@")
    if len(local) > MAX_LOCAL_CHARS or not _LOCAL.match(local) or "=?" in local:
        raise UnsafeAddress(
            "The part of your e-mail address before the @ can only use unaccented letters, digits and "
            f".!#$%&'*+/=?^_`{{|}}~- (no spaces, no two dots in a row, no '=?'), at most {MAX_LOCAL_CHARS} "
            f"characters {example}."
        )
    bad_domain = UnsafeAddress(f"The domain of your e-mail address (after the @) is not a valid domain name {example}.")
    try:
        # One trailing dot is the DNS root ("example.org."); more is a typo.
        ascii_domain = domain.removesuffix(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise bad_domain from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise bad_domain
    result = f"{local}@{ascii_domain}"
    if len(result) > MAX_ADDRESS_CHARS:
        raise UnsafeAddress(f"Your e-mail address must be at most {MAX_ADDRESS_CHARS} characters once its domain "
                            "is encoded.")
    return result
