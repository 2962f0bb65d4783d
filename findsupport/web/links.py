"""The pages behind the signed links in e-mails, and "Are you a provider? Manage your listing".

==========================  =====================================================================
``/respond/<token>``        the provider: what the coach asked, their message; Accept / Decline
                            (``name="answer" value="accept|decline"``) with an optional note
``/manage/<token>``         the provider's listing: pause / resume / withdraw
                            (``name="action" value="pause|resume|withdraw"``; withdrawing asks
                            to confirm) and an edit form (``value="edit"``)
``/cancel/<token>``         the coach withdraws their pending request
``/outcome/<token>``        the one-click "did you meet? was it helpful?" (a button confirms it:
                            mail scanners open links, people press buttons)
``/manage``                 a form that e-mails a fresh manage link to a listed address; the
                            same answer whether the address is listed or not
``POST /api/v1/manage-links``  the same as JSON ``{email}`` → ``202``
==========================  =====================================================================

A GET only shows; every change is a POST carrying the page's CSRF token (a
hidden ``csrf_token`` signed for that form and that page's link token,
:meth:`~findsupport.introductions.IntroductionService.form_token`), or it is a
400.  A link that is not ours answers 404, an old one 410, a used or closed
one 409: each as a problem page (HTML for a browser, ``application/problem+json``
otherwise, from :func:`~findsupport.web.problems.problem_body`), never a form.

Token pages answer ``Cache-Control: no-store`` and ``Referrer-Policy:
no-referrer`` (the token in the URL must not reach another site or a shared
cache) and ``X-Robots-Tag: noindex``.  Nothing on a page before acceptance
shows anyone's postcode, coordinates or e-mail address: the coach appears by
name, their level and what they asked, at postcode-sector level.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from .. import taxonomy
from ..catalog.model import MAX_BIO_CHARS, MAX_CAPACITY, MAX_TRAVEL_KM
from ..errors import FindSupportError, InvalidInput, ProviderNotFound, TokenInvalid
from ..introductions.messages import days_phrase, describe_request
from ..introductions.tables import MAX_EMAIL_CHARS, MAX_NOTE_CHARS
from .problems import PROBLEM_MIMETYPE, error_response, problem_body
from .state import WebState, web_state

__all__ = ["blueprint", "TOKEN_PAGE_HEADERS", "MANAGE_LINKS_DETAIL", "MANAGE_NOTICES"]

#: Headers of every page of this blueprint (see the module docstring).
TOKEN_PAGE_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}
#: The one answer to "send me a manage link", listed or not.
MANAGE_LINKS_DETAIL = (
    "Thank you. If that address belongs to a listing, we have e-mailed a link to manage it; the link works "
    "for {days}. Nothing is sent otherwise, and nothing changes until a link is used."
)
#: What the manage page says after each change (the redirect carries only the key).
MANAGE_NOTICES: dict[str, str] = {
    "paused": "Your listing is paused: coaches do not see you until you resume it.",
    "resumed": "Your listing is live again: coaches can find you.",
    "edited": "Your changes are saved. Coaches see them within a few minutes.",
    "unchanged": "Nothing needed changing.",
}
#: The fixed "page token" of the manage-link request form, whose CSRF token has no link to tie to.
_MANAGE_REQUEST_PAGE = "manage-request"

blueprint = Blueprint("links", __name__)


# ---------------------------------------------------------------------- plumbing
def _state() -> WebState:
    return web_state()


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match([PROBLEM_MIMETYPE, "application/json", "text/html"])
    return best == "text/html"


def _problem_page(error: FindSupportError) -> Response:
    """A problem as a page for a browser, as problem+json otherwise; the body comes from ``problem_body``."""
    if not _wants_html():
        return error_response(error)
    body = problem_body(error.http_status, error.title, error.message, code=error.code, instance=request.path,
                        **error.extra)
    response = _page("link_problem.html", status=error.http_status, problem=body)
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


@blueprint.errorhandler(FindSupportError)
def _link_error(error: FindSupportError) -> Response:
    return _problem_page(error)


@blueprint.after_request
def _token_page_headers(response: Response) -> Response:
    for name, value in TOKEN_PAGE_HEADERS.items():
        response.headers[name] = value
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _form() -> Mapping[str, Any]:
    return request.form


def _check(form: str, page_token: str) -> None:
    _state().introductions.check_form_token(form, page_token, _form().get("csrf_token"))


def _csrf(form: str, page_token: str) -> str:
    return _state().introductions.form_token(form, page_token)


def _wake() -> None:
    state = _state()
    if state.background:
        state.worker.wake()


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%A %d %B %Y")


def _provider_name(provider_id: str) -> str:
    contact = _state().introductions.contacts(provider_id)
    return contact.name if contact is not None else "the provider"


# ---------------------------------------------------------------------- the provider answers
@blueprint.get("/respond/<token>")
def respond(token: str) -> Response:
    """What the coach asked, and Accept / Decline."""
    state = _state()
    state.limit("links")
    introduction = state.introductions.open_respond(token)
    return _page(
        "respond.html",
        introduction=introduction,
        facts=describe_request(introduction)[1:],
        expires=_when(introduction.expires_at),
        csrf_token=_csrf("respond", token),
        note_max=MAX_NOTE_CHARS,
    )


@blueprint.post("/respond/<token>")
def answer(token: str) -> Response:
    """Accept or decline (``answer=accept|decline``, optional ``note``)."""
    state = _state()
    state.limit("links")
    state.introductions.open_respond(token)  # 404/409/410 before anything else
    _check("respond", token)
    choice = _form().get("answer")
    if choice not in ("accept", "decline"):
        raise InvalidInput("Please press Accept or Decline.", field="answer", allowed=["accept", "decline"])
    act = state.introductions.accept if choice == "accept" else state.introductions.decline
    introduction = act(token, _form().get("note"))
    _wake()
    return _page("link_done.html", heading="Thank you" if choice == "accept" else "Thank you for answering",
                 lines=_answered_lines(introduction, choice))


def _answered_lines(introduction: Any, choice: str) -> list[str]:
    coach = introduction.coach_name
    if choice == "accept":
        return [f"You accepted {coach}'s request. We are e-mailing you their contact details now, and yours to them.",
                "One of your places is now taken; you can change your places on your manage page at any time."]
    return [f"You declined {coach}'s request. We will let them know kindly and suggest other providers.",
            "If you cannot take anyone on for a while, pausing your listing saves coaches waiting."]


# ---------------------------------------------------------------------- the coach withdraws
@blueprint.get("/cancel/<token>")
def cancel(token: str) -> Response:
    """Confirm withdrawing a pending request."""
    state = _state()
    state.limit("links")
    introduction = state.introductions.open_cancel(token)
    return _page("cancel.html", provider_name=_provider_name(introduction.provider_id),
                 facts=describe_request(introduction)[1:], csrf_token=_csrf("cancel", token))


@blueprint.post("/cancel/<token>")
def cancel_confirmed(token: str) -> Response:
    """Withdraw the request (``action=withdraw``); the provider is told."""
    state = _state()
    state.limit("links")
    state.introductions.open_cancel(token)
    _check("cancel", token)
    if _form().get("action") != "withdraw":
        raise InvalidInput("Please press the button to withdraw your request.", field="action", allowed=["withdraw"])
    introduction = state.introductions.withdraw(token)
    _wake()
    return _page("link_done.html", heading="Request withdrawn",
                 lines=[f"Your request to {_provider_name(introduction.provider_id)} is withdrawn; we have let "
                        "them know. You can search again at any time."])


# ---------------------------------------------------------------------- outcomes
@blueprint.get("/outcome/<token>")
def outcome(token: str) -> Response:
    """Show the one-click answer and a button that records it."""
    state = _state()
    state.limit("links")
    _recipient, label = state.introductions.outcome_answer(token)
    return _page("outcome.html", label=label, csrf_token=_csrf("outcome", token))


@blueprint.post("/outcome/<token>")
def outcome_recorded(token: str) -> Response:
    """Record the check-in answer (the last click wins)."""
    state = _state()
    state.limit("links")
    state.introductions.outcome_answer(token)
    _check("outcome", token)
    state.introductions.record_outcome(token)
    return _page("link_done.html", heading="Thank you",
                 lines=["Your answer is recorded. It helps us suggest better matches to other coaches."])


# ---------------------------------------------------------------------- the provider's listing
def _listing(token: str) -> tuple[str, Any]:
    """The provider id of a manage link and their listing (404 once withdrawn)."""
    state = _state()
    provider_id = state.introductions.open_manage(token)
    try:
        view = state.store.editable_view(provider_id)
    except ProviderNotFound:
        raise TokenInvalid("This listing is no longer in the catalogue.") from None
    return provider_id, view


def _slot_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    return [(taxonomy.DAY_LABELS[day], [(f"{day}_{p}", taxonomy.PERIOD_LABELS[p]) for p in taxonomy.PERIODS])
            for day in taxonomy.DAYS]


def _manage_page(token: str, view: Any, *, status: int = 200, notice: str | None = None,
                 error: InvalidInput | None = None) -> Response:
    return _page(
        "manage.html",
        status=status,
        view=view,
        notice=notice,
        error=error,
        slot_rows=_slot_rows(),
        event_groups=taxonomy.event_group_choices(),
        csrf_token=_csrf("manage", token),
        limits={"bio": MAX_BIO_CHARS, "capacity": MAX_CAPACITY, "travel_km": MAX_TRAVEL_KM},
    )


@blueprint.get("/manage/<token>")
def manage(token: str) -> Response:
    """The provider's listing: pause/resume, edit, withdraw."""
    state = _state()
    state.limit("links")
    _provider_id, view = _listing(token)
    return _manage_page(token, view, notice=MANAGE_NOTICES.get(request.args.get("done", "")))


@blueprint.post("/manage/<token>")
def manage_action(token: str) -> Response:
    """``action=pause|resume|edit|withdraw`` (withdraw asks to confirm first: ``confirm=yes``)."""
    state = _state()
    state.limit("links")
    provider_id, view = _listing(token)
    _check("manage", token)
    action = _form().get("action")
    if action in ("pause", "resume"):
        changed = (state.introductions.pause if action == "pause" else state.introductions.resume)(provider_id)
        done = ("paused" if action == "pause" else "resumed") if changed else "unchanged"
        return redirect(url_for("links.manage", token=token, done=done), code=303)
    if action == "edit":
        try:
            after = state.store.apply_edit(provider_id, _edits(), now=datetime.now(UTC).replace(tzinfo=None))
        except InvalidInput as exc:
            return _manage_page(token, view, status=400, error=exc)
        return redirect(url_for("links.manage", token=token, done="edited" if after != view else "unchanged"), code=303)
    if action == "withdraw":
        if _form().get("confirm") != "yes":
            return _page("withdraw.html", view=view, csrf_token=_csrf("manage", token))
        state.store.withdraw(provider_id, now=datetime.now(UTC).replace(tzinfo=None))
        state.introductions.provider_withdrawn(provider_id)
        _wake()
        return _page("link_done.html", heading="You have left findsupport",
                     lines=["Your details are deleted and coaches no longer see you. Coaches who were waiting "
                            "for your answer are told kindly. Thank you for the help you gave."])
    raise InvalidInput("Please press one of the buttons.", field="action",
                       allowed=["pause", "resume", "edit", "withdraw"])


def _edits() -> dict[str, Any]:
    """The edit form as the catalogue's ``apply_edit`` reads it (lists as lists, the checkbox as text)."""
    form = _form()
    return {
        "availability": form.getlist("availability"),
        "events": form.getlist("events"),
        "capacity": form.get("capacity", ""),
        "travel_km": form.get("travel_km", ""),
        "online": "true" if form.get("online") == "true" else "false",
        "bio": form.get("bio", ""),
    }


# ---------------------------------------------------------------------- "Are you a provider?"
@blueprint.get("/manage")
def manage_request() -> Response:
    """Ask for a manage link by e-mail."""
    state = _state()
    state.limit("links")
    return _page("manage_request.html", csrf_token=_csrf("manage-request", _MANAGE_REQUEST_PAGE),
                 email_max=MAX_EMAIL_CHARS)


def _send_manage_links(email: Any) -> str:
    state = _state()
    state.limit("manage_links")
    state.introductions.send_manage_links(email if isinstance(email, str) else "")
    _wake()
    return MANAGE_LINKS_DETAIL.format(days=days_phrase(state.settings.manage_link_days))


@blueprint.post("/manage")
def manage_request_sent() -> Response:
    """The same page whether the address is listed or not."""
    _check("manage-request", _MANAGE_REQUEST_PAGE)
    try:
        detail = _send_manage_links(_form().get("email"))
    except InvalidInput as exc:
        return _page("manage_request.html", status=400, error=exc, email=_form().get("email", "")[:MAX_EMAIL_CHARS],
                     csrf_token=_csrf("manage-request", _MANAGE_REQUEST_PAGE), email_max=MAX_EMAIL_CHARS)
    return _page("link_done.html", heading="Check your e-mail", lines=[detail])


@blueprint.post("/api/v1/manage-links")
def manage_links_api() -> Response:
    """JSON ``{email}`` → ``202 {status, detail}``, the same for every address."""
    if not request.is_json:
        raise UnsupportedMediaType()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"email"}:
        raise InvalidInput('The body must be a JSON object {"email": "..."}.', field="body")
    detail = _send_manage_links(body.get("email"))
    response = jsonify({"status": "accepted", "detail": detail})
    response.status_code = 202
    return response
