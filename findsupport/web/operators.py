"""Operator pages behind sign-in: introduction figures, listings that need attention, the coverage map.

=================================  ==================================================================
``/operator/sign-in``              GET a form, POST an address: always the same answer; a listed
                                   address gets a one-time link ``{public_url}/operator/sign-in/{token}``
``/operator/sign-in/<token>``      GET shows a button (mail scanners fetch links, people press
                                   buttons); POST spends the link and sets the session cookie
``/operator/sign-out``             POST ends the session everywhere
``/operator/``                     the operator's start page
``/operator/introductions``        states, response rates and median response times, by region and role
``/operator/attention``            paused, full for long, never requested
``/operator/coverage``             a Leaflet choropleth of ``/operator/api/coverage``
``/operator/api/introductions``    JSON of the introduction figures
``/operator/api/attention``        JSON of the attention lists
``/operator/api/coverage``         GeoJSON of the coverage figures by district (small counts suppressed;
                                   ``since``, ``until``, ``role``, ``event_group``, ``mode`` filter them;
                                   a 503 until ``findsupport coverage`` has cached the district outlines)
=================================  ==================================================================

Who may: with ``settings.operator_emails`` empty every path here is a 404.
Otherwise a page asked for without an operator's session redirects (303) to
the sign-in page and a JSON endpoint answers a 401 problem; a POST without the
form token of its session is a 403 and changes nothing.  The session is the
cookie of :class:`~findsupport.web.operator_access.OperatorAccess`: signed,
``HttpOnly``, ``SameSite=Strict``, ``Path=/operator``, ``Max-Age``
``operator_session_hours``, and ``Secure`` (named ``__Secure-…``) when the
public URL is https (or the request came over https).  On plain http (a
development server, the tests' ``http://localhost``) it cannot be ``Secure``,
or the browser would never send it back.

Single sign-on: with ``operator_sso_header`` set *and* ``trust_proxy`` on, a
request whose header names a listed address is that operator's (no cookie).
The reverse proxy must set that header itself and strip it from every client
request; findsupport cannot tell a forged header from the proxy's.

Links are made from ``public_url`` (or the introductions' default), never
from the request's ``Host``: a forged ``Host`` must not get an operator a
link to another site.  The e-mail is sent at once (in a background thread
when the app runs its background work, so a listed address does not answer
more slowly than an unlisted one).

These endpoints are not in ``/openapi.json``: they are not part of the public
API.  Every answer here is ``Cache-Control: no-store``, ``Referrer-Policy:
no-referrer`` and ``X-Robots-Tag: noindex``.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, redirect, render_template, request, url_for

from ..errors import FindSupportError, OperatorOnly, SignInRequired
from ..introductions.addresses import safe_addr_spec
from ..introductions.attention import listings_needing_attention
from ..introductions.lifecycle import DEFAULT_PUBLIC_URL
from ..introductions.messages import MESSAGE_ID_DOMAIN
from ..introductions.tables import MAX_EMAIL_CHARS
from .operator_access import OperatorAccess, OperatorSession
from .operator_coverage import CoverageMap
from .problems import PROBLEM_MIMETYPE, error_response, problem_body
from .state import web_state

__all__ = [
    "blueprint",
    "install_operators",
    "compose_sign_in",
    "operator_access",
    "SIGN_IN_DETAIL",
    "SIGN_IN_SUBJECT",
    "SIGN_IN_KIND",
    "operator_page",
    "operator_api",
    "OPERATOR_HEADERS",
    "EXTENSION_KEY",
    "COVERAGE_KEY",
    "COOKIE_NAME",
]

log = logging.getLogger(__name__)

EXTENSION_KEY = "findsupport.operators"
#: Where the app keeps its :class:`~findsupport.web.operator_coverage.CoverageMap`.
COVERAGE_KEY = "findsupport.operators.coverage"
#: The session cookie; ``__Secure-`` is prefixed when it is ``Secure`` (browsers then refuse it over http).
COOKIE_NAME = "findsupport_operator"
#: The one answer to a sign-in request, listed or not.
SIGN_IN_DETAIL = ("If that address is an operator's, a sign-in link is on its way. It works once, for "
                  "{minutes} minutes.")
SIGN_IN_SUBJECT = "Your findsupport operator sign-in link (findsupport)"
#: The kind header the outbox folder names files by.
SIGN_IN_KIND = "operator-sign-in"
#: Headers of every answer of this blueprint (see the module docstring).
OPERATOR_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
#: Page names that anchor the form tokens shown before sign-in.
_SIGN_IN_PAGE = "operator-sign-in"
_SIGN_OUT_FORM = "sign-out"

blueprint = Blueprint("operators", __name__, url_prefix="/operator")


# ---------------------------------------------------------------------- plumbing
def install_operators(app: Flask, state: Any) -> None:
    """Open operator access on the introductions' database and register :data:`blueprint`."""
    app.extensions[EXTENSION_KEY] = OperatorAccess.open(state.introductions.engine, state.settings)
    app.extensions[COVERAGE_KEY] = CoverageMap(state.settings, state.engine)
    app.register_blueprint(blueprint)


def operator_access() -> OperatorAccess:
    """The :class:`OperatorAccess` of the current app."""
    return current_app.extensions[EXTENSION_KEY]


def _state() -> Any:
    return web_state()


def _wants_json() -> bool:
    if request.path.startswith("/operator/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", PROBLEM_MIMETYPE, "application/json"])
    return best != "text/html"


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


@blueprint.errorhandler(FindSupportError)
def _operator_error(error: FindSupportError) -> Response:
    if _wants_json():
        return error_response(error)
    body = problem_body(error.http_status, error.title, error.message, code=error.code, instance=request.path,
                        **error.extra)
    response = _page("operator_problem.html", status=error.http_status, problem=body)
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


@blueprint.before_request
def _operators_only_when_listed() -> None:
    if not operator_access().enabled:
        abort(404)


@blueprint.after_request
def _operator_headers(response: Response) -> Response:
    for name, value in OPERATOR_HEADERS.items():
        response.headers[name] = value
    return response


def _public_url() -> str:
    return (_state().settings.public_url or DEFAULT_PUBLIC_URL).rstrip("/")


def _secure_cookie() -> bool:
    return _public_url().startswith("https://") or request.is_secure


def _cookie_name() -> str:
    return f"__Secure-{COOKIE_NAME}" if _secure_cookie() else COOKIE_NAME


def _current_operator() -> OperatorSession | None:
    """The operator of this request: the single sign-on header (when trusted), else the session cookie."""
    access = operator_access()
    settings = _state().settings
    if settings.operator_sso_header and settings.trust_proxy:
        value = request.headers.get(settings.operator_sso_header)
        if value:
            sso = access.sso_operator(value)
            if sso is not None:
                return sso
    return access.session_of(request.cookies.get(_cookie_name()))


def operator_page(view: Callable[..., Response]) -> Callable[..., Response]:
    """A page for operators only: anyone else is sent to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        operator = _current_operator()
        if operator is None:
            return redirect(url_for("operators.sign_in"), code=303)
        return view(operator, *args, **kwargs)

    return wrapper


def operator_api(view: Callable[..., Any]) -> Callable[..., Any]:
    """A JSON endpoint for operators only: anyone else gets a 401 problem."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        operator = _current_operator()
        if operator is None:
            raise SignInRequired("Operator figures need an operator's sign-in: open /operator/sign-in.")
        return view(operator, *args, **kwargs)

    return wrapper


def _check_form(form: str, anchor: str) -> None:
    if not operator_access().form_token_ok(form, anchor, request.form.get("csrf_token")):
        raise OperatorOnly("This form is out of date or was not sent from our page. Open the page again and "
                           "retry from there.", field="csrf_token")


# ---------------------------------------------------------------------- the sign-in e-mail
def compose_sign_in(address: str, link: str, *, mail_from: str, minutes: float, date: datetime | None = None) -> EmailMessage:
    """The operator's sign-in e-mail: plain text plus an HTML alternative.

    Follows the header rules of :mod:`findsupport.introductions.messages` (kept
    here rather than as a kind there while that package is being restructured):
    the subject is fixed, the recipient passed :func:`safe_addr_spec`, the
    ``Message-ID`` names no real host, and no text a person typed is in it.

    Raises
    ------
    UnsafeAddress
        ``address`` cannot go into a header.
    """
    whole = max(1, round(minutes))
    lines = [
        "Hello,",
        "Someone (we hope you) asked to sign in to the findsupport operator pages with this address.",
        f"This link signs you in. It works once, within {whole} minutes:",
    ]
    closing = "If you did not ask, ignore this e-mail: nothing happens unless the link is used."
    message = EmailMessage()
    message["Subject"] = SIGN_IN_SUBJECT
    message["From"] = mail_from
    message["To"] = safe_addr_spec(address)
    message["Date"] = format_datetime(date or datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring=SIGN_IN_KIND, domain=MESSAGE_ID_DOMAIN)
    message["X-Findsupport-Kind"] = SIGN_IN_KIND
    message.set_content("\n\n".join([*lines, link, closing]) + "\n\n-- \nSent by findsupport. Please do not reply.\n")
    e = html.escape
    paragraphs = "\n".join(f"<p>{e(line)}</p>" for line in lines)
    message.add_alternative(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>findsupport</title></head>\n'
        f'<body>\n{paragraphs}\n<p><a href="{e(link, quote=True)}">Sign in to findsupport</a></p>\n'
        f"<p>{e(closing)}</p>\n</body></html>\n",
        subtype="html",
    )
    return message


def _send_sign_in(address: str) -> None:
    """E-mail a sign-in link to a listed ``address`` (failures are logged, never shown)."""
    state = _state()
    access = operator_access()
    address = safe_addr_spec(address).lower()  # the listed form, whatever case was typed
    link = f"{_public_url()}/operator/sign-in/{access.link_token(address)}"
    message = compose_sign_in(address, link, mail_from=state.settings.mail_from,
                              minutes=state.settings.operator_link_minutes)
    mailer = state.worker.mailer

    def send() -> None:
        try:
            mailer.send(message)
        except OSError as exc:  # SMTP refused or the outbox folder is unwritable: the operator asks again
            log.error("operator sign-in e-mail not sent (%s): %s", mailer.describe(), exc)

    if state.background:
        threading.Thread(target=send, name="operator-sign-in-mail", daemon=True).start()
    else:
        send()


# ---------------------------------------------------------------------- sign-in and out
@blueprint.get("/sign-in")
def sign_in() -> Response:
    """The form asking for an operator's address."""
    _state().limit("links")
    return _page("operator_sign_in.html", csrf_token=operator_access().form_token("sign-in", _SIGN_IN_PAGE),
                 email_max=MAX_EMAIL_CHARS)


@blueprint.post("/sign-in")
def sign_in_requested() -> Response:
    """The same page for every address; a listed one gets its link."""
    state = _state()
    _check_form("sign-in", _SIGN_IN_PAGE)
    state.limit("operator_sign_in")
    address = request.form.get("email", "")
    if operator_access().is_operator(address):
        _send_sign_in(address)
    detail = SIGN_IN_DETAIL.format(minutes=max(1, round(state.settings.operator_link_minutes)))
    return _page("operator_done.html", heading="Check your e-mail", lines=[detail])


@blueprint.get("/sign-in/<token>")
def confirm_sign_in(token: str) -> Response:
    """A button that signs in: opening the link alone spends nothing."""
    _state().limit("links")
    email = operator_access().check_link(token)
    return _page("operator_confirm.html", email=email,
                 csrf_token=operator_access().form_token("confirm", token))


@blueprint.post("/sign-in/<token>")
def signed_in(token: str) -> Response:
    """Spend the link, start the session, set its cookie."""
    _state().limit("links")
    access = operator_access()
    _check_form("confirm", token)
    session = access.start_session(access.use_link(token))
    response = redirect(url_for("operators.home"), code=303)
    response.set_cookie(
        _cookie_name(),
        session.cookie,
        max_age=int(access.session_lifetime.total_seconds()),
        path="/operator",
        secure=_secure_cookie(),
        httponly=True,
        samesite="Strict",
    )
    return response


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """End the session everywhere and forget the cookie."""
    operator = _current_operator()
    if operator is None:
        raise OperatorOnly("Only a signed-in operator can sign out.")
    _check_form(_SIGN_OUT_FORM, operator.anchor)
    operator_access().end_session(operator)
    response = _page("operator_done.html", heading="Signed out", lines=["You are signed out of the operator pages."])
    response.delete_cookie(_cookie_name(), path="/operator", secure=_secure_cookie(), httponly=True, samesite="Strict")
    return response


def _operator_page(template: str, operator: OperatorSession, **context: Any) -> Response:
    return _page(template, operator=operator,
                 sign_out_token=operator_access().form_token(_SIGN_OUT_FORM, operator.anchor), **context)


# ---------------------------------------------------------------------- pages
@blueprint.get("/")
@operator_page
def home(operator: OperatorSession) -> Response:
    """The operator's start page."""
    return _operator_page("operator_home.html", operator)


def _introduction_figures() -> dict[str, Any]:
    return _state().introductions.stats()


def _attention() -> Any:
    state = _state()
    settings = state.settings
    return listings_needing_attention(state.introductions.engine, state.introductions.clock(),
                                      full_days=settings.operator_full_days,
                                      pause_after_expiries=settings.pause_after_expiries)


@blueprint.get("/introductions")
@operator_page
def introductions(operator: OperatorSession) -> Response:
    """Introduction statistics."""
    return _operator_page("operator_introductions.html", operator, figures=_introduction_figures())


@blueprint.get("/attention")
@operator_page
def attention(operator: OperatorSession) -> Response:
    """Listings that need attention."""
    return _operator_page("operator_attention.html", operator, attention=_attention(),
                          full_days=_state().settings.operator_full_days)


@blueprint.get("/coverage")
@operator_page
def coverage(operator: OperatorSession) -> Response:
    """The coverage map (its figures come from ``/operator/api/coverage``)."""
    settings = _state().settings
    return _operator_page("operator_coverage.html", operator, tile_url=settings.tile_url,
                          tile_attribution=settings.tile_attribution, min_count=settings.coverage_min_count)


# ---------------------------------------------------------------------- JSON
@blueprint.get("/api/introductions")
@operator_api
def introductions_api(operator: OperatorSession) -> Response:
    """The introduction figures as JSON."""
    return jsonify(_introduction_figures())


@blueprint.get("/api/attention")
@operator_api
def attention_api(operator: OperatorSession) -> Response:
    """The attention lists as JSON."""
    return jsonify(_attention().to_dict())


@blueprint.get("/api/coverage")
@operator_api
def coverage_api(operator: OperatorSession) -> Response:
    """Coverage figures by district as GeoJSON (small counts suppressed), or a 503 until they can be served."""
    response = jsonify(current_app.extensions[COVERAGE_KEY].geojson(request.args))
    response.mimetype = "application/geo+json"
    return response
