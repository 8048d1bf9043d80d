"""The patient's online questionnaire at /q/<token>/: no login, the link from the letter is the key.

What these pages never show: anything of a patient (no name, study id, dates, not even the
response code). A link that is not "ok" gets a polite page in plain words, 404 for a link we do
not know and 410 for one that was used, expired or whose wave was closed, the same page for every
unknown link. Guessing is throttled per client address (FOLLOWUP_LINK_GUESS_LIMIT unknown links
in FOLLOWUP_LINK_GUESS_WINDOW_SECONDS, counted in Django's cache), and tokens stay out of the logs
these views write; Django's own "Not Found: <path>" line is suppressed for the same reason.

No CSRF token: the form's authority is the secret in its URL, not a cookie, so a forged
cross-site post could do nothing its author could not do directly; and a patient whose browser
refuses cookies can still answer.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from followup import questionnaire as qn
from followup import services
from followup.forms import QuestionnaireForm
from followup.models import WaveMember
from registry.lockout import client_ip_address

logger = logging.getLogger(__name__)

# (HTTP status, heading, paragraphs) of the page for a link that cannot be answered.
_REFUSALS: dict[str, tuple[int, str, list[str]]] = {
    "unknown": (
        404,
        "This link does not work",
        [
            "Please check that you typed the whole address exactly as it is printed in the letter, "
            "or scan the square code on the letter again.",
            "You can also fill in the paper questionnaire that came with the letter and post it back to us.",
        ],
    ),
    "used": (
        410,
        "This link has already been used",
        [
            "Thank you: we have your answers. Each link can be used only once.",
            "If you want to tell us something else, please write to the study team at the address in the letter.",
        ],
    ),
    "expired": (
        410,
        "This link is no longer valid",
        [
            "The time for answering online has ended.",
            "If you still want to tell us something, please write to the study team at the address in the letter.",
        ],
    ),
    "throttled": (
        429,
        "Too many attempts",
        [
            "This device tried too many links that do not work.",
            "Please wait {wait}, then type the address again exactly as it is printed in the letter.",
        ],
    ),
}
_REFUSALS["closed"] = _REFUSALS["expired"]
_CONDITIONS = {("health", "deceased"): "Only if the patient has died"}


def _public(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """No login and no CSRF cookie; GET (HEAD) and POST only; headers that keep the page (whose
    URL holds the token) out of caches, Referer headers and search engines."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method in ("GET", "HEAD", "POST"):
            response = view(request, *args, **kwargs)
        else:
            response = HttpResponseNotAllowed(["GET", "POST"])
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        # Django logs every 4xx with the path ("Gone: /q/<token>/"); these views log their own
        # lines, without the token.
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response

    return login_not_required(csrf_exempt(wrapper))


@_public
def questionnaire(request: HttpRequest, token: str) -> HttpResponse:
    if _guesses(request) >= _guess_limit():
        logger.warning("online questionnaire: link guessing throttled for %s", client_ip_address(request))
        return _refusal(request, "throttled")
    member, state = services.member_for_token(token, today=timezone.localdate())
    if state != "ok" or member is None:
        if state == "unknown":
            _count_guess(request)
        logger.info("online questionnaire: link refused (%s)%s", state, f", member {member.pk}" if member else "")
        return _refusal(request, state)
    form = QuestionnaireForm(
        request.POST if request.method == "POST" else None, definition=member.wave.questionnaire.definition, paper=False
    )
    _plain_messages(form)
    if request.method == "POST" and form.is_valid():
        return _submit(request, member, form)
    return _form_page(request, form)


def _submit(request: HttpRequest, member: WaveMember, form: QuestionnaireForm) -> HttpResponse:
    try:
        services.response_submit(user=services.PATIENT_ONLINE, member=member, answers=form.answers(), via="online")
    except services.AlreadyReturned:
        logger.info("online questionnaire: member %s answered twice; the second time refused", member.pk)
        return _refusal(request, "used")
    except ValidationError as exc:
        # Not the patient's doing (e.g. a record changed meanwhile): never show the service's
        # message, which may name the patient; the team finds the member id in the log.
        logger.warning("online questionnaire: member %s not saved: %s", member.pk, "; ".join(exc.messages))
        form.add_error(None, "We could not save your answers. Please try again later, or use the paper questionnaire.")
        return _form_page(request, form)
    logger.info("online questionnaire: member %s returned", member.pk)
    # 303: the browser fetches the thank-you page with GET; "back" and reload do not post again.
    response = HttpResponse(status=303)
    response["Location"] = reverse("followup_public_thanks")
    return response


@_public
def thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "followup/public_thanks.html", {"title": "Thank you"})


# The form page ---------------------------------------------------------------------------------


def _form_page(request: HttpRequest, form: QuestionnaireForm) -> HttpResponse:
    blocks = _blocks(form)
    context = {
        "title": form.definition.get("title", "Health questionnaire"),
        "intro": form.definition.get("intro", ""),
        "form": form,
        "blocks": blocks,
        "error_summary": _error_summary(form, blocks) if form.is_bound else [],
    }
    return render(request, "followup/public_form.html", context)


def _plain_messages(form: QuestionnaireForm) -> None:
    """Django's standard messages in the patient's words (the coordinators' paper entry keeps its own)."""
    for name, field in form.fields.items():
        if isinstance(field.widget, forms.RadioSelect):
            field.error_messages["required"] = "Please choose one answer."
        elif isinstance(field, forms.IntegerField) and name.endswith("_year"):
            field.error_messages.update(
                invalid="Please type the year in numbers, for example 2024.",
                max_value="This year is in the future.",
                min_value="Please give a year from %(limit_value)s on.",
            )
        elif isinstance(field, forms.IntegerField):
            field.error_messages.update(
                invalid="Please type the day in numbers, for example 14.",
                max_value="A day is a number from 1 to 31.",
                min_value="A day is a number from 1 to 31.",
            )


def _blocks(form: QuestionnaireForm) -> list[dict]:
    """The form's blocks, with what the template needs beyond them: whether a further occurrence
    is shown open (it holds answers or errors), the condition of a conditional question, each
    occurrence's parts by kind, and the inputs' error descriptions."""
    blocks = form.blocks()
    for block in blocks:
        only_if = block["question"].get("only_if")
        block["condition"] = _condition(form, only_if) if only_if else ""
        later_open = False
        # Each further occurrence is nested in the one before: open it when it or a later one has
        # answers or errors, so that nothing filled in or wrong is hidden.
        for item in reversed(block["items"]):
            item["open"] = later_open = later_open or _filled_or_wrong(item["fields"])
            # "mi_0_year" -> "year": the template sizes each part of an occurrence by its kind.
            item["parts"] = [{"field": f, "kind": f.name.rsplit("_", 1)[1]} for f in item["fields"]]
        block["open"] = later_open or _filled_or_wrong([block["field"]])
        for bound in [block["field"], *(f for item in block["items"] for f in item["fields"])]:
            _describe(bound)
    return blocks


def _condition(form: QuestionnaireForm, only_if: list[str]) -> str:
    question, code = only_if
    if (question, code) in _CONDITIONS:
        return _CONDITIONS[(question, code)]
    labels = dict(qn.question(form.definition, question).get("options", []))
    return f"Only if you answered “{labels.get(code, code)}”"


def _filled_or_wrong(fields) -> bool:
    return any(f.errors or f.value() not in (None, "") for f in fields)


def _describe(bound) -> None:
    """Tie an input (each button of a radio group) to its error message for screen readers."""
    if bound.errors:
        bound.field.widget.attrs["aria-describedby"] = f"{bound.auto_id}_errors"


def _anchor(bound) -> str:
    """The id the error summary links to: the input, or a radio group's first button."""
    return bound.id_for_label or f"{bound.auto_id}_0"


def _error_summary(form: QuestionnaireForm, blocks: list[dict]) -> list[dict]:
    """[{"anchor", "text"}] in the order of the page: each error, with where it is."""
    found = [{"anchor": "", "text": str(error)} for error in form.non_field_errors()]
    for block in blocks:
        question = block["question"]["text"]
        for error in block["field"].errors:
            found.append({"anchor": _anchor(block["field"]), "text": f"{question} {error}"})
        for item in block["items"]:
            for bound in item["fields"]:
                for error in bound.errors:
                    where = f"{question} {item['title']}, {bound.label.lower()}:"
                    found.append({"anchor": _anchor(bound), "text": f"{where} {error}"})
    return found


# Refusals and the guessing throttle -----------------------------------------------------------


def _refusal(request: HttpRequest, state: str) -> HttpResponse:
    status, heading, paragraphs = _REFUSALS[state]
    minutes = max(1, round(_guess_window_seconds() / 60))
    wait = f"{minutes} minute{'' if minutes == 1 else 's'}"
    context = {"title": heading, "heading": heading, "paragraphs": [p.format(wait=wait) for p in paragraphs]}
    return render(request, "followup/public_message.html", context, status=status)


def _guess_limit() -> int:
    return getattr(settings, "FOLLOWUP_LINK_GUESS_LIMIT", 20)


def _guess_key(request: HttpRequest) -> str:
    return f"followup:link-guesses:{client_ip_address(request) or 'unknown'}"


def _guesses(request: HttpRequest) -> int:
    return cache.get(_guess_key(request), 0)


def _guess_window_seconds() -> int:
    return getattr(settings, "FOLLOWUP_LINK_GUESS_WINDOW_SECONDS", 600)


def _count_guess(request: HttpRequest) -> None:
    """One more unknown link from this address; the count expires a window after the first."""
    key, window = _guess_key(request), _guess_window_seconds()
    cache.add(key, 0, timeout=window)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
