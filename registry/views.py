"""The coordinators' and clinicians' pages. Thin: check the role, load through the access helpers,
call one service or selector, render. Login is required by Django's LoginRequiredMiddleware (settings).

The CSV importer and exporter are imported inside the views that use them, so that this module
does not depend on them at import time.
"""

import io
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseForm
from django.forms.models import model_to_dict
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods

from core.jobs import job_health
from core.roles import (
    ADMIN,
    ANALYSIS_DATA,
    EDIT_REGISTRY,
    IMPORT_EXPORT,
    SEE_AUDIT,
    SEE_IDENTIFIERS,
    VIEW_PATIENTS,
    can_see_identifiers,
    has_role,
    require_role,
    user_roles,
)
from registry import csv_io, dashboard, import_text, patient_page, selectors, services
from registry.access import patient_get_for_user, patients_for_user, sites_for_user
from registry.audit import audit_for_display
from registry.forms import (
    AnalysisExportForm,
    ContactEditForm,
    ContactForm,
    DeleteForm,
    EventEditForm,
    EventForm,
    EventVerifyForm,
    IdentityForm,
    ImportForm,
    PatientEditForm,
    PatientEnrolForm,
    PatientFilterForm,
    WithdrawForm,
    add_service_errors,
)
from registry.import_text import INPUT_FILES
from registry.models import (
    BASELINE_FLAGS,
    ClinicalEvent,
    EventType,
    FollowUpContact,
    ImportJob,
    Patient,
    PatientIdentity,
    Verification,
)
from registry.panels import home_panels, patient_panels
from registry.services import CONTACT_FIELDS, EVENT_FIELDS, IDENTITY_FIELDS, PATIENT_FIELDS

PATIENTS_PER_PAGE = 50
_GET_POST = ["GET", "POST"]


def role_required(roles: tuple[str, ...]) -> Callable:
    """Admit only users with one of `roles`; anyone else gets 403 (PermissionDenied)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            require_role(request.user, roles)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# Helpers ------------------------------------------------------------------------------------


def _sites_for(user) -> QuerySet:
    return sites_for_user(user)


def _patient(request: HttpRequest, study_id: str) -> Patient:
    return patient_get_for_user(user=request.user, study_id=study_id)


def _contact(request: HttpRequest, study_id: str, pk: int) -> FollowUpContact:
    # Through the patient, so that another site's contact is a 404 like its patient.
    return get_object_or_404(_patient(request, study_id).contacts, pk=pk)


def _event(request: HttpRequest, study_id: str, pk: int) -> ClinicalEvent:
    return get_object_or_404(_patient(request, study_id).events, pk=pk)


def _posted(request: HttpRequest) -> QueryDict | None:
    """A form's data: bound on POST (even an empty one), unbound on GET."""
    return request.POST if request.method == "POST" else None


def _posted_files(request: HttpRequest) -> MultiValueDict | None:
    """A form's files, as `_posted` its data."""
    return request.FILES if request.method == "POST" else None


def _signed_in(request: HttpRequest) -> User:
    """The user of a view behind `role_required` (an anonymous user has no role, so never gets here)."""
    if not request.user.is_authenticated:
        raise PermissionDenied("Your role does not allow this.")
    return request.user


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


_FormT = TypeVar("_FormT", bound=BaseForm)


def _form_page(
    request: HttpRequest, *, form: _FormT, write: Callable[[_FormT], tuple[str, str]], template: str, context: dict
) -> HttpResponse:
    """On a valid POST run `write(form) -> (redirect_url, success_message)`; service errors go
    next to their fields. Otherwise (GET or errors) render the form. A save from a stale copy
    shows the current values, with what differs from the submitted ones, and saves nothing."""
    if request.method == "POST" and form.is_valid():
        try:
            url, message = write(form)
        except services.StaleVersion as stale:
            _show_current(form, stale)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, message)
            return redirect(url)
    return render(request, template, {"form": form, **context})


def _show_current(form: BaseForm, stale: services.StaleVersion) -> None:
    """Put the record's current values (and version) into the form, and say what differs from
    what the user submitted; the reason they typed is kept."""
    names = [n for n in form.fields if n not in ("version", "reason")]
    row = stale.current
    assert isinstance(row, Patient | PatientIdentity | FollowUpContact | ClinicalEvent)  # the models with a version
    current = model_to_dict(row, fields=names)
    differences = [
        f"{form.fields[n].label}: you submitted {_shown(form.fields[n], form.cleaned_data.get(n))}, "
        f"it is now {_shown(form.fields[n], current[n])}."
        for n in current
        if n in form.cleaned_data and form.fields[n].prepare_value(form.cleaned_data[n]) != current[n]
    ]
    form.data = {**current, "version": row.version, "reason": form.cleaned_data.get("reason", "")}
    form.add_error(None, [stale.message, *differences])


def _shown(field, value) -> str:
    value = field.prepare_value(value)
    if value in (None, ""):
        return "(empty)"
    labels = {str(k): v for k, v in getattr(field, "choices", ())}
    return str(labels.get(str(value), value))


def _versioned_initial(instance, fields: tuple[str, ...]) -> dict:
    """An edit form's initial values: the fields and the version they were read at."""
    return {**model_to_dict(instance, fields=fields), "version": instance.version}


def _verbose_name(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)  # a column, not the reverse side of a relation
    return str(field.verbose_name)


def _detail_url(patient: Patient) -> str:
    return reverse("patient_detail", args=[patient.study_id])


# Home and patients --------------------------------------------------------------------------


@require_GET
@role_required(VIEW_PATIENTS)
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: per role, today's work (coordinators), the study's figures (everyone who
    sees patients; aggregates only), job health (admins), and the panels of the apps above."""
    roles = user_roles(request.user)
    today = timezone.localdate()
    patients = patients_for_user(request.user)
    context: dict = {"today": today, "overview": dashboard.study_overview(patients, today=today)}
    if roles & set(EDIT_REGISTRY):
        work = selectors.follow_up_worklist(user=request.user, as_of=today)
        context["work"] = {
            "overdue": len(work["overdue"]),
            "lost": len(work["lost"]),
            "pending_events": work["pending_events"].count(),
            "pending_deaths": work["pending_events"].filter(event_type=EventType.DEATH).count(),
        }
    if ADMIN in roles:
        context["jobs"] = job_health()
    context["panels"] = home_panels(request, lambda allowed: has_role(request.user, allowed))
    return render(request, "registry/home.html", context)


@require_GET
@role_required(VIEW_PATIENTS)
def patient_list(request: HttpRequest) -> HttpResponse:
    identifiers = can_see_identifiers(request.user)
    form = PatientFilterForm(
        request.GET,
        site_codes=list(_sites_for(request.user).values_list("code", flat=True)),
        search_label="Study ID, name or hospital number" if identifiers else "Study ID",
    )
    form.is_valid()
    filters = {name: form.cleaned_data.get(name) or "" for name in ("q", "site", "status")}
    sort = request.GET.get("sort", selectors.PATIENT_SORT_DEFAULT)
    rows = selectors.patient_list(
        user=request.user,
        as_of=timezone.localdate(),
        search=filters["q"],
        site=filters["site"],
        status=filters["status"],
        identifiers=identifiers,
        sort=sort,
    )
    page = Paginator(rows, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "registry/patient_list.html",
        {
            "form": form,
            "page": page,
            "pending_deaths": selectors.pending_death_ids(row.patient.pk for row in page.object_list),
            "show_identifiers": identifiers,
            "filtered": any(filters.values()),
            "sort": _sort_headers(sort),
            "sort_value": sort if sort != selectors.PATIENT_SORT_DEFAULT else "",
        },
    )


# The patient list's sortable columns: sort key -> header.
_PATIENT_SORT_HEADERS = {
    "study_id": "Study ID",
    "site": "Site",
    "index_date": "Index date",
    "ics": "ICS",
    "last_contact": "Last contact",
    "status": "Status",
}


def _sort_headers(sort: str) -> dict[str, dict]:
    """Per sortable column: its label, the sort its header link asks for (the other direction when
    it is the current one) and its aria-sort ("" when the list is not sorted by it)."""
    current = sort.removeprefix("-") if sort.removeprefix("-") in _PATIENT_SORT_HEADERS else selectors.PATIENT_SORT_DEFAULT
    descending = sort.startswith("-") and current == sort.removeprefix("-")
    headers = {}
    for key, label in _PATIENT_SORT_HEADERS.items():
        active = key == current
        headers[key] = {
            "label": label,
            "next": f"-{key}" if active and not descending else key,
            "next_label": "descending" if active and not descending else "ascending",
            "aria_sort": ("descending" if descending else "ascending") if active else "",
        }
    return headers


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def patient_create(request: HttpRequest) -> HttpResponse:
    form = PatientEnrolForm(_posted(request), sites=_sites_for(request.user))

    def write(form: PatientEnrolForm) -> tuple[str, str]:
        patient = services.patient_create(
            user=request.user, data=form.data_for(PATIENT_FIELDS), identity=form.data_for(IDENTITY_FIELDS)
        )
        return _detail_url(patient), f"Patient {patient.study_id} enrolled."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/patient_form.html",
        context={"title": "Enrol a patient", "patient": None},
    )


@require_GET
@role_required(VIEW_PATIENTS)
def patient_detail(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    see_identifiers = has_role(request.user, SEE_IDENTIFIERS)
    timeline = selectors.patient_timeline(patient)
    panels = patient_panels(request, patient)  # e.g. scoring's pullbacks and ICS (registry.panels)
    marks = patient_page.registry_marks(patient, timeline)
    marks += [mark for panel in panels for mark in panel["context"].get("timeline_marks", [])]
    context = {
        "patient": patient,
        "state": selectors.follow_up_state_of(patient, as_of=timezone.localdate()),
        "ics": patient_page.ics_summary(patient),
        "help": patient_page.help_texts(),
        "sections": patient_page.SECTIONS,
        "baseline": [(_verbose_name(Patient, f), getattr(patient, f)) for f in BASELINE_FLAGS],
        "events": [item["obj"] for item in timeline if item["kind"] == "event"],
        "death_pending": any(
            item["kind"] == "event"
            and item["obj"].event_type == EventType.DEATH
            and item["obj"].verification == Verification.PENDING
            for item in timeline
        ),
        "contacts": [item["obj"] for item in timeline if item["kind"] == "contact"],
        "timeline_chart": patient_page.patient_timeline_chart(patient, marks),
        "n_pullbacks": sum(1 for mark in marks if mark.lane == patient_page.LANE_PULLBACKS),
        # Free text may name people: shown only to roles that may see identifiers.
        "show_notes": see_identifiers,
        "identity": PatientIdentity.objects.filter(patient=patient).first() if see_identifiers else None,
        "audit_entries": audit_for_display(patient.audit_entries.all()) if has_role(request.user, SEE_AUDIT) else None,
        "verify_next": request.get_full_path(),
        "section_panels": {key: [panel for panel in panels if panel["section"] == key] for key, _ in patient_page.SECTIONS},
    }
    return render(request, "registry/patient_detail.html", context)


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def patient_edit(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    form = PatientEditForm(
        _posted(request), sites=_sites_for(request.user), initial=_versioned_initial(patient, PATIENT_FIELDS)
    )

    def write(form: PatientEditForm) -> tuple[str, str]:
        updated = services.patient_update(
            user=request.user,
            patient=patient,
            data=form.data_for(PATIENT_FIELDS),
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        return _detail_url(updated), f"Patient {updated.study_id} saved."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/patient_form.html",
        context={"title": f"Edit patient {patient.study_id}", "patient": patient},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def identity_edit(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    identity = PatientIdentity.objects.filter(patient=patient).first()
    initial = _versioned_initial(identity, IDENTITY_FIELDS) if identity else {}
    form = IdentityForm(_posted(request), initial=initial)

    def write(form: IdentityForm) -> tuple[str, str]:
        services.identity_set(
            user=request.user,
            patient=patient,
            data=form.data_for(IDENTITY_FIELDS),
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        return _detail_url(patient), f"Identifiers of {patient.study_id} saved."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={"title": f"Identifiers of {patient.study_id}", "patient": patient},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def patient_withdraw(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    form = WithdrawForm(_posted(request))

    def write(form: WithdrawForm) -> tuple[str, str]:
        services.patient_withdraw(
            user=request.user,
            patient=patient,
            withdrawn_on=form.cleaned_data["withdrawn_on"],
            reason=form.cleaned_data["reason"],
        )
        return _detail_url(patient), f"Patient {patient.study_id} withdrawn."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={
            "title": f"Withdraw patient {patient.study_id}",
            "patient": patient,
            "submit_label": "Withdraw patient",
            "submit_class": "danger",
        },
    )


# Follow-up contacts -------------------------------------------------------------------------


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def contact_create(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    form = ContactForm(_posted(request), initial={"contact_date": timezone.localdate()})

    def write(form: ContactForm) -> tuple[str, str]:
        services.contact_record(user=request.user, patient=patient, data=form.data_for(CONTACT_FIELDS))
        return _detail_url(patient), f"Contact with {patient.study_id} recorded."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={"title": f"New follow-up contact: {patient.study_id}", "patient": patient},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def contact_edit(request: HttpRequest, study_id: str, pk: int) -> HttpResponse:
    contact = _contact(request, study_id, pk)
    form = ContactEditForm(_posted(request), initial=_versioned_initial(contact, CONTACT_FIELDS))

    def write(form: ContactEditForm) -> tuple[str, str]:
        services.contact_update(
            user=request.user,
            contact=contact,
            data=form.data_for(CONTACT_FIELDS),
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        return _detail_url(contact.patient), "Contact saved."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={"title": f"Edit contact of {contact.patient.study_id}", "patient": contact.patient},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def contact_delete(request: HttpRequest, study_id: str, pk: int) -> HttpResponse:
    contact = _contact(request, study_id, pk)
    form = DeleteForm(_posted(request), initial={"version": contact.version})

    def write(form: DeleteForm) -> tuple[str, str]:
        services.contact_delete(
            user=request.user,
            contact=contact,
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        return _detail_url(contact.patient), "Contact deleted."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/delete_form.html",
        context={
            "title": f"Delete contact of {contact.patient.study_id}",
            "patient": contact.patient,
            "what": f"the {contact.get_method_display().lower()} contact on {contact.contact_date:%Y-%m-%d}",
        },
    )


# Clinical events ----------------------------------------------------------------------------

# The event form's script enables the study-vessel and method selects only where they apply.
_EVENT_FORM_PAGE = {"form_id": "event-form", "script": "js/event_form.js"}


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def event_create(request: HttpRequest, study_id: str) -> HttpResponse:
    patient = _patient(request, study_id)
    form = EventForm(_posted(request))

    def write(form: EventForm) -> tuple[str, str]:
        event = services.event_record(user=request.user, patient=patient, data=form.data_for(EVENT_FIELDS))
        return _detail_url(patient), (
            f"{event.get_event_type_display()} of {patient.study_id} recorded (pending verification)."
        )

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={"title": f"New clinical event: {patient.study_id}", "patient": patient, **_EVENT_FORM_PAGE},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def event_edit(request: HttpRequest, study_id: str, pk: int) -> HttpResponse:
    event = _event(request, study_id, pk)
    form = EventEditForm(_posted(request), initial=_versioned_initial(event, EVENT_FIELDS))

    def write(form: EventEditForm) -> tuple[str, str]:
        services.event_update(
            user=request.user,
            event=event,
            data=form.data_for(EVENT_FIELDS),
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        return _detail_url(event.patient), "Event saved."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/followup_form.html",
        context={"title": f"Edit event of {event.patient.study_id}", "patient": event.patient, **_EVENT_FORM_PAGE},
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def event_delete(request: HttpRequest, study_id: str, pk: int) -> HttpResponse:
    event = _event(request, study_id, pk)
    form = DeleteForm(_posted(request), initial={"version": event.version})

    def write(form: DeleteForm) -> tuple[str, str]:
        services.event_delete(
            user=request.user, event=event, reason=form.cleaned_data["reason"], expected_version=form.cleaned_data["version"]
        )
        return _detail_url(event.patient), "Event deleted."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/delete_form.html",
        context={
            "title": f"Delete event of {event.patient.study_id}",
            "patient": event.patient,
            "what": f"the {event.get_event_type_display().lower()} on {event.event_date:%Y-%m-%d}",
        },
    )


@require_http_methods(_GET_POST)
@role_required(EDIT_REGISTRY)
def event_verify(request: HttpRequest, study_id: str, pk: int) -> HttpResponse:
    """The one-click "verify against source" (and "reject") of the timeline and the worklist.

    A POST with errors shows this page, with the messages next to the fields."""
    event = _event(request, study_id, pk)
    form = EventVerifyForm(_posted(request), initial={"source_document": event.source_document, "version": event.version})
    back = _safe_next(request, _detail_url(event.patient))

    def write(form: EventVerifyForm) -> tuple[str, str]:
        decision = form.cleaned_data["decision"]
        services.event_verify(
            user=request.user,
            event=event,
            decision=decision,
            source_document=form.cleaned_data["source_document"],
            reason=form.cleaned_data["reason"],
            expected_version=form.cleaned_data["version"],
        )
        what = f"{event.get_event_type_display()} of {event.patient.study_id} ({event.event_date:%Y-%m-%d})"
        return back, f"{what} {'verified' if decision == Verification.VERIFIED else 'rejected'}."

    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/event_verify.html",
        context={
            "title": f"Verify event of {event.patient.study_id}",
            "patient": event.patient,
            "event": event,
            "next": back,
        },
    )


# Worklist -----------------------------------------------------------------------------------

WORKLIST_ROWS_PER_SECTION = 25


@require_GET
@role_required(VIEW_PATIENTS)
def worklist(request: HttpRequest) -> HttpResponse:
    """Four sections, each paged on its own (?deaths_page=, ?overdue_page=, ?lost_page=,
    ?pending_page=), so that the page stays small however many patients are overdue."""
    sections = selectors.follow_up_worklist(user=request.user, as_of=timezone.localdate())
    shown = {"deaths": "deaths_to_verify", "overdue": "overdue", "lost": "lost", "pending_events": "events_to_verify"}
    pages = {name: _section_page(request, sections[key], f"{name.split('_')[0]}_page") for name, key in shown.items()}
    return render(
        request,
        "registry/worklist.html",
        {**pages, "verify_next": request.get_full_path(), "overdue_months": settings.FOLLOW_UP_OVERDUE_DAYS * 12 // 365},
    )


def _section_page(request: HttpRequest, rows, param: str):
    page = Paginator(rows, WORKLIST_ROWS_PER_SECTION).get_page(request.GET.get(param))

    def url(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return f"?{query.urlencode()}"

    # Links for the template, kept on the page it already has.
    page.previous_url = url(page.previous_page_number()) if page.has_previous() else ""  # type: ignore[attr-defined]
    page.next_url = url(page.next_page_number()) if page.has_next() else ""  # type: ignore[attr-defined]
    return page


# Import -------------------------------------------------------------------------------------


IMPORTS_PER_PAGE = 50


def _import_jobs(request: HttpRequest) -> QuerySet[ImportJob]:
    # An import's problems quote rows of its files: only the uploader (or an admin) sees them.
    jobs = ImportJob.objects.select_related("created_by")
    if ADMIN not in user_roles(request.user):
        jobs = jobs.filter(created_by=_signed_in(request))
    return jobs


def _import_job(request: HttpRequest, pk: int) -> ImportJob:
    return get_object_or_404(_import_jobs(request), pk=pk)


@require_http_methods(_GET_POST)
@role_required(IMPORT_EXPORT)
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(_posted(request), _posted_files(request))

    def write(form: ImportForm) -> tuple[str, str]:
        from registry.importer import import_job_start

        job = import_job_start(
            user=request.user, patients_file=form.cleaned_data["patients_file"], events_file=form.cleaned_data["events_file"]
        )
        return reverse("import_detail", args=[job.pk]), f"Import {job.pk} queued."

    recent = ImportJob.objects.filter(created_by=_signed_in(request))[:10]
    return _form_page(
        request,
        form=form,
        write=write,
        template="registry/import_upload.html",
        context={
            "recent_jobs": recent,
            "max_upload_mb": settings.IMPORT_MAX_UPLOAD_BYTES // 2**20,
            "input_files": list(INPUT_FILES),
        },
    )


@require_GET
@role_required(IMPORT_EXPORT)
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _import_job(request, pk)
    context = {
        "job": job,
        "done": job.done,
        "summary_lines": import_text.summary_lines(job.summary),
        "problems_by_file": import_text.problems_by_file(job.problems),
    }
    return render(request, "registry/import_detail.html", context)


@require_GET
@role_required(IMPORT_EXPORT)
def import_history(request: HttpRequest) -> HttpResponse:
    """Past imports the user may see (their own; an admin's: everyone's), newest first."""
    page = Paginator(_import_jobs(request), IMPORTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"job": job, "outcome": import_text.job_outcome(job)} for job in page]
    return render(request, "registry/import_history.html", {"page": page, "rows": rows})


@require_GET
@role_required(IMPORT_EXPORT)
def import_template(request: HttpRequest, file: str) -> HttpResponse:
    """patients.csv or events.csv with its header and one synthetic example row."""
    if file not in INPUT_FILES:
        raise Http404(f"No template {file!r}.")
    columns, optional = INPUT_FILES[file]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file}"'
    csv_io.write_template(response, columns=(*columns, *optional))
    return response


@require_GET
@role_required(IMPORT_EXPORT)
def import_dictionary(request: HttpRequest) -> HttpResponse:
    """Every column of the input files: meaning, type and allowed values, required, an example."""
    return render(request, "registry/import_dictionary.html", {"files": import_text.data_dictionary()})


@require_GET
@role_required(IMPORT_EXPORT)
def import_status(request: HttpRequest, pk: int) -> JsonResponse:
    job = _import_job(request, pk)
    return JsonResponse(
        {
            "id": job.pk,
            "status": job.status,
            "progress_percent": job.progress_percent,
            "done": job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED),
        }
    )


# Export -------------------------------------------------------------------------------------


def _csv_response(name: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localdate():%Y-%m-%d}.csv"'
    return response


@require_GET
@role_required(IMPORT_EXPORT + ANALYSIS_DATA)
def export(request: HttpRequest) -> HttpResponse:
    return render(request, "registry/export.html", {"analysis_form": AnalysisExportForm()})


@require_GET
@role_required(IMPORT_EXPORT)
def export_patients(request: HttpRequest) -> HttpResponse:
    from registry.exporter import write_patients_csv

    response = _csv_response("patients")
    write_patients_csv(response, patients=patients_for_user(request.user))
    return response


@require_GET
@role_required(IMPORT_EXPORT)
def export_events(request: HttpRequest) -> HttpResponse:
    from registry.exporter import write_events_csv

    response = _csv_response("events")
    write_events_csv(response, patients=patients_for_user(request.user))
    return response


@require_GET
@role_required(ANALYSIS_DATA)
def export_analysis(request: HttpRequest) -> HttpResponse:
    form = AnalysisExportForm(request.GET)
    if not form.is_valid():
        return render(request, "registry/export.html", {"analysis_form": form}, status=400)
    from registry.exporter import write_analysis_csv

    response = _csv_response("analysis_dataset")
    write_analysis_csv(
        response,
        user=request.user,
        horizon_days=form.cleaned_data["horizon_days"],
        count_pending=form.cleaned_data["count_pending"],
    )
    return response


# Civil-registry checks -----------------------------------------------------------------------
# Survival from the municipal civil registry (registry.civil_registry): coordinators and admins
# download the request file of their sites' living patients and upload the registry's response,
# which is recorded all or nothing. The two forms live here: they belong to this page only.


class CivilRegistryExportForm(forms.Form):
    site = forms.ChoiceField(label="Site", required=False, help_text="Only the patients of this site, or all your sites.")

    def __init__(self, *args, site_codes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        assert isinstance(site, forms.ChoiceField)
        site.choices = [("", "All your sites"), *((code, code) for code in site_codes)]


class CivilRegistryResponseForm(forms.Form):
    response_file = forms.FileField(
        label="Response file (CSV)",
        help_text="The civil registry's answer: study_id, vital_status, date_of_death, checked_on.",
        widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}),
    )

    def clean_response_file(self):
        upload = self.cleaned_data["response_file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise ValidationError(f"The file is larger than the limit of {settings.IMPORT_MAX_UPLOAD_BYTES / 2**20:g} MB.")
        return upload


def _civil_registry_export_form(request: HttpRequest, data: QueryDict | None = None) -> CivilRegistryExportForm:
    codes = list(_sites_for(request.user).values_list("code", flat=True))
    return CivilRegistryExportForm(data, site_codes=codes, prefix="export")


def _civil_registry_page(request: HttpRequest, *, status: int = 200, **context) -> HttpResponse:
    context.setdefault("export_form", _civil_registry_export_form(request))
    context.setdefault("response_form", CivilRegistryResponseForm(prefix="response"))
    context["max_upload_mb"] = settings.IMPORT_MAX_UPLOAD_BYTES // 2**20
    return render(request, "registry/civil_registry.html", context, status=status)


@require_http_methods(_GET_POST)
@role_required(IMPORT_EXPORT)
def civil_registry(request: HttpRequest) -> HttpResponse:
    """The page; a POST uploads the response file: a summary, or every problem and nothing saved."""
    from registry.civil_registry import ResponseFailed, import_response, summary_items, summary_text

    form = CivilRegistryResponseForm(_posted(request), _posted_files(request), prefix="response")
    if request.method != "POST" or not form.is_valid():
        return _civil_registry_page(request, response_form=form, status=400 if form.errors else 200)
    upload = form.cleaned_data["response_file"]
    try:
        # utf-8-sig: spreadsheets often write a byte-order mark; a file that is not UTF-8 is a problem of the file.
        summary = import_response(
            io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline=""), user=request.user, file_name=upload.name
        )
    except ResponseFailed as failed:
        return _civil_registry_page(request, response_form=form, file_name=upload.name, problems=failed.messages, status=400)
    return _civil_registry_page(
        request,
        file_name=upload.name,
        result=summary_text(summary),
        result_items=summary_items(summary),
    )


@require_http_methods(["POST"])
@role_required(IMPORT_EXPORT)
def civil_registry_export(request: HttpRequest) -> HttpResponse:
    """The request file (a POST: every export is written to the audit trail)."""
    from registry.civil_registry import write_export

    form = _civil_registry_export_form(request, request.POST)
    if not form.is_valid():
        return _civil_registry_page(request, export_form=form, status=400)
    site = form.cleaned_data["site"] or None
    name = f"civil_registry_request{'-' + site if site else ''}-{timezone.localdate():%Y-%m-%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    write_export(response, user=request.user, site=site, file_name=name)
    return response
