"""One exception root for findsupport.

Every error the project raises on purpose derives from :class:`FindSupportError`.
Each one carries

* ``http_status``: what the web layer answers with,
* ``title``: a short, stable summary (the problem+json ``title``),
* ``message``: a sentence a coach or an operator can act on (the ``detail``); it
  never contains private data (a provider's postcode, coordinates or e-mail),
* ``extra``: small JSON-safe facts a client can use (``suggestions``, ``field``).

The web layer turns any of them into ``application/problem+json`` with one
function; the CLI prints ``message`` and exits non-zero.  Anything that is *not*
a ``FindSupportError`` is a bug and is logged as such.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FindSupportError",
    "InvalidInput",
    "InvalidPostcode",
    "PostcodeNotFound",
    "PostcodeNotCovered",
    "LocationOutsideCoverage",
    "InvalidQuery",
    "ConfigError",
    "DataUnavailable",
    "ProviderNotFound",
    "CatalogError",
    "ImportRejected",
    "ModelError",
    "RateLimited",
    "IntroductionError",
    "DuplicateIntroduction",
    "ProviderFull",
    "TokenInvalid",
    "TokenExpired",
    "AlreadyAnswered",
    "LinkUsed",
    "SignInRequired",
    "OperatorOnly",
]


class FindSupportError(Exception):
    """Root of every error findsupport raises on purpose.

    Parameters
    ----------
    message : str
        What went wrong and, where possible, how to fix it.  Safe to show to
        anyone: never include private provider data.
    **extra
        JSON-serialisable details for API clients (for example ``field`` or
        ``suggestions``).
    """

    http_status: int = 500
    title: str = "Something went wrong"
    #: Short machine-readable slug; also the last part of the problem ``type`` URI.
    code: str = "internal-error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}

    def __str__(self) -> str:
        return self.message


class InvalidInput(FindSupportError, ValueError):
    """Input that can never succeed as given (a 400)."""

    http_status = 400
    title = "Invalid input"
    code = "invalid-input"


class InvalidPostcode(InvalidInput):
    """Text that is not a UK postcode, a postcode district or a sector."""

    title = "Invalid postcode"
    code = "invalid-postcode"


class PostcodeNotFound(FindSupportError, LookupError):
    """A well-formed postcode that Code-Point Open does not list.

    ``extra["suggestions"]`` holds up to five live postcodes the coach may have
    meant.
    """

    http_status = 404
    title = "Postcode not found"
    code = "postcode-not-found"

    @property
    def suggestions(self) -> list[str]:
        return list(self.extra.get("suggestions", []))


class PostcodeNotCovered(FindSupportError, LookupError):
    """A real postcode outside Great Britain (Northern Ireland, Channel Islands, Isle of Man)."""

    http_status = 422
    title = "Postcode outside Great Britain"
    code = "postcode-not-covered"


class LocationOutsideCoverage(InvalidInput):
    """A longitude/latitude that is not in Great Britain."""

    http_status = 422
    title = "Location outside Great Britain"
    code = "location-outside-coverage"


class InvalidQuery(InvalidInput):
    """A search parameter that is missing, of the wrong type or out of range.

    ``extra["field"]`` names the parameter; ``extra["allowed"]`` lists what would
    be accepted when that list is short enough to be useful.
    """

    title = "Invalid search"
    code = "invalid-query"


class ConfigError(FindSupportError):
    """A setting that cannot be used (bad value, unreadable config file)."""

    http_status = 500
    title = "Configuration error"
    code = "configuration-error"


class DataUnavailable(FindSupportError):
    """Data the service needs is missing or unreadable (e.g. postcode files)."""

    http_status = 503
    title = "Service data unavailable"
    code = "data-unavailable"


class ProviderNotFound(FindSupportError, LookupError):
    """No listed provider has this id (unknown and unconsented look the same)."""

    http_status = 404
    title = "Provider not found"
    code = "provider-not-found"


class CatalogError(FindSupportError):
    """The provider catalogue cannot be read or written."""

    http_status = 500
    title = "Catalogue error"
    code = "catalog-error"


class ImportRejected(CatalogError):
    """A whole import file could not be read (wrong format, no header, no CRS)."""

    http_status = 400
    title = "Import rejected"
    code = "import-rejected"


class ModelError(FindSupportError):
    """A ranking model is missing from the database, malformed or incompatible with this version."""

    http_status = 500
    title = "Ranking model error"
    code = "model-error"


class RateLimited(FindSupportError):
    """Too many requests from one client; ``extra["retry_after"]`` is in seconds."""

    http_status = 429
    title = "Too many requests"
    code = "rate-limited"


class IntroductionError(FindSupportError):
    """An introduction cannot go ahead as asked (the subclasses say why)."""

    http_status = 409
    title = "Introduction not possible"
    code = "introduction-conflict"


class DuplicateIntroduction(IntroductionError):
    """The same coach already has a pending request to this provider."""

    title = "Already requested"
    code = "introduction-duplicate"


class ProviderFull(IntroductionError):
    """The provider has no spare place (pending requests count as held places)."""

    title = "No places left"
    code = "provider-full"


class TokenInvalid(FindSupportError, LookupError):
    """A signed link that is not one of ours, or whose introduction no longer exists (a 404)."""

    http_status = 404
    title = "Link not found"
    code = "link-not-found"


class TokenExpired(FindSupportError):
    """A genuine signed link past its lifetime (a 410)."""

    http_status = 410
    title = "Link expired"
    code = "link-expired"


class AlreadyAnswered(FindSupportError):
    """A single-use link already used, or an introduction no longer pending (a 409)."""

    http_status = 409
    title = "Already answered"
    code = "already-answered"


class LinkUsed(FindSupportError):
    """A one-time sign-in link that was already used (a 409): ask for a new one."""

    http_status = 409
    title = "Link already used"
    code = "link-used"


class SignInRequired(FindSupportError):
    """An operator endpoint asked for without an operator's sign-in (a 401)."""

    http_status = 401
    title = "Sign-in required"
    code = "sign-in-required"


class OperatorOnly(FindSupportError):
    """An operator change sent without its form token, or by someone who is not an operator (a 403)."""

    http_status = 403
    title = "Not allowed"
    code = "operator-only"
