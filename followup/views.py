"""The coordinators' follow-up pages: waves (create, follow, close), returned paper
questionnaires found by response code, and the source-document requests. Thin: check the role,
scope to the user's sites, call one service, render. Letters and links are in
followup.letter_views, the dashboard in followup.dashboard_views, the patient's own form in
followup.public_views."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.roles import FOLLOW_UP_WAVES
from followup import services
from followup.forms import (
    LettersSentForm,
    MemberMarkForm,
    QuestionnaireForm,
    RequestUpdateForm,
    ResponseCodeForm,
    WaveCreateForm,
)
from followup.letter_views import letter_parts
from followup.models import (
    OPEN_REQUEST_STATUSES,
    MemberStatus,
    RequestStatus,
    SourceDocumentRequest,
    Wave,
    WaveMember,
)
from registry.access import patients_of_sites, sites_for_user, user_site_ids
from registry.forms import add_service_errors
from registry.views import role_required

MEMBERS_PER_PAGE = 100
_GET_POST = ["GET", "POST"]


def _patients(request: HttpRequest) -> QuerySet:
    return patients_of_sites(user_site_ids(request.user))


def _members(request: HttpRequest, wave: Wave) -> QuerySet:
    """The wave's members whose patients the user may see."""
    return wave.members.filter(patient__in=_patients(request))


def _wave(pk: int) -> Wave:
    return get_object_or_404(Wave.objects.select_related("site", "questionnaire"), pk=pk)


def _member(request: HttpRequest, pk: int) -> WaveMember:
    return get_object_or_404(
        WaveMember.objects.select_related("wave", "patient", "patient__site").filter(patient__in=_patients(request)),
        pk=pk,
    )


def _flash_errors(request: HttpRequest, error: ValidationError) -> None:
    for text in error.messages:
        messages.error(request, text)


# Waves ------------------------------------------------------------------------------------------


@require_http_methods(["GET"])
@role_required(FOLLOW_UP_WAVES)
def wave_list(request: HttpRequest) -> HttpResponse:
    patients = _patients(request)
    waves = Wave.objects.select_related("site").annotate(
        n_members=Count("members", filter=Q(members__patient__in=patients)),
        n_returned=Count("members", filter=Q(members__patient__in=patients, members__status=MemberStatus.RETURNED)),
        n_to_send=Count("members", filter=Q(members__patient__in=patients, members__status=MemberStatus.TO_SEND)),
    )
    rows = [{"wave": w, "rate": round(100 * w.n_returned / w.n_members) if w.n_members else None} for w in waves]
    open_requests = SourceDocumentRequest.objects.filter(patient__in=patients, status__in=OPEN_REQUEST_STATUSES).count()
    return render(
        request, "followup/wave_list.html", {"rows": rows, "open_requests": open_requests, "code_form": ResponseCodeForm()}
    )


@require_http_methods(_GET_POST)
@role_required(FOLLOW_UP_WAVES)
def wave_create(request: HttpRequest) -> HttpResponse:
    sites = sites_for_user(request.user)
    form = WaveCreateForm(request.POST if request.method == "POST" else None, sites=sites)
    preview = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if "preview" in request.POST:
            preview = services.wave_candidates(
                patients=_patients(request),
                today=timezone.localdate(),
                site=data["site"],
                no_contact_days=data["no_contact_days"],
            )
        else:
            try:
                wave = services.wave_create(
                    user=request.user,
                    name=data["name"],
                    patients=_patients(request),
                    site=data["site"],
                    no_contact_days=data["no_contact_days"],
                    reminder_weeks=data["reminder_weeks"],
                    answer_days=data["answer_days"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, f"Wave “{wave.name}” created with {wave.members.count()} patients.")
                return redirect("followup_wave_detail", pk=wave.pk)
    return render(request, "followup/wave_create.html", {"form": form, "preview": preview})


@require_http_methods(["GET"])
@role_required(FOLLOW_UP_WAVES)
def wave_detail(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    members = _members(request, wave).select_related("patient", "patient__site")
    status = request.GET.get("status", "")
    counts = dict(members.values_list("status").annotate(n=Count("id")).order_by())
    shown = members.filter(status=status) if status in MemberStatus.values else members
    page = Paginator(shown.order_by("patient__study_id"), MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    due = services.reminders_due(wave, today=today).filter(patient__in=_patients(request)).count()
    statuses = [{"value": s.value, "label": s.label, "count": counts.get(s.value, 0)} for s in MemberStatus]
    return render(
        request,
        "followup/wave_detail.html",
        {
            "wave": wave,
            "page": page,
            "status": status,
            "statuses": statuses,
            "total": sum(counts.values()),
            "to_send": counts.get(MemberStatus.TO_SEND, 0),
            "reminders_due": due,
            "letter_parts": letter_parts(sum(counts.values())),
            "sent_form": LettersSentForm(),
            "mark_form": MemberMarkForm(),
        },
    )


def _record_posted(request: HttpRequest, wave: Wave, what: str, write) -> None:
    """The form of "letters / reminders posted on <date>": `write(on)` records them, returns how many."""
    form = LettersSentForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Give the date the {what} were posted.")
        return
    on = form.cleaned_data["on"]
    try:
        n = write(on)
    except ValidationError as error:
        _flash_errors(request, error)
    else:
        messages.success(request, f"{n} {what} recorded as posted on {on:%Y-%m-%d}.")


@require_POST
@role_required(FOLLOW_UP_WAVES)
def letters_sent(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    _record_posted(
        request,
        wave,
        "letters",
        lambda on: services.letters_sent(user=request.user, wave=wave, on=on, members=_members(request, wave)),
    )
    return redirect("followup_wave_detail", pk=wave.pk)


@require_POST
@role_required(FOLLOW_UP_WAVES)
def reminders_sent(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    _record_posted(
        request,
        wave,
        "reminders",
        lambda on: services.reminders_sent(
            user=request.user,
            wave=wave,
            on=on,
            members=services.reminders_due(wave, today=on).filter(patient__in=_patients(request)),
        ),
    )
    back = "followup_wave_dashboard" if request.POST.get("back") == "dashboard" else "followup_wave_detail"
    return redirect(back, pk=wave.pk)


@require_POST
@role_required(FOLLOW_UP_WAVES)
def wave_close(request: HttpRequest, pk: int) -> HttpResponse:
    wave = _wave(pk)
    if wave.members.exclude(patient__in=_patients(request)).exists():
        messages.error(request, "This wave has patients of sites you do not work for: someone with all its sites closes it.")
        return redirect("followup_wave_detail", pk=wave.pk)
    try:
        n = services.wave_close(user=request.user, wave=wave, on=timezone.localdate())
    except ValidationError as error:
        _flash_errors(request, error)
    else:
        messages.success(request, f"Wave closed; {n} letters without an answer are now “no response”.")
    return redirect("followup_wave_detail", pk=wave.pk)


@require_POST
@role_required(FOLLOW_UP_WAVES)
def member_mark(request: HttpRequest, pk: int) -> HttpResponse:
    member = _member(request, pk)
    form = MemberMarkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what to mark.")
    else:
        try:
            services.member_mark(
                user=request.user, member=member, status=form.cleaned_data["status"], note=form.cleaned_data["note"]
            )
        except ValidationError as error:
            _flash_errors(request, error)
        else:
            label = MemberStatus(form.cleaned_data["status"]).label
            messages.success(request, f"{member.patient.study_id}: marked “{label}”.")
    return redirect(
        reverse("followup_wave_detail", args=[member.wave_id]) + f"?status={request.POST.get('back_status', '')}"
    )


# Paper questionnaires ---------------------------------------------------------------------------


@require_http_methods(["GET"])
@role_required(FOLLOW_UP_WAVES)
def paper_find(request: HttpRequest) -> HttpResponse:
    """Find a returned paper questionnaire by its response code (GET ?code=...)."""
    form = ResponseCodeForm(request.GET or None)
    if form.is_valid():
        code = services.normalise_response_code(form.cleaned_data["code"])
        member = WaveMember.objects.filter(response_code=code, patient__in=_patients(request)).first()
        if member is not None:
            return redirect("followup_paper_entry", code=code)
        form.add_error(
            "code",
            f"No questionnaire of your sites has the response code {code}. Check the letters O/0 and I/1: codes use neither.",
        )
    return render(request, "followup/paper_find.html", {"form": form})


@require_http_methods(_GET_POST)
@role_required(FOLLOW_UP_WAVES)
def paper_entry(request: HttpRequest, code: str) -> HttpResponse:
    member = (
        WaveMember.objects.select_related("wave", "wave__questionnaire", "patient", "patient__site")
        .filter(response_code=services.normalise_response_code(code), patient__in=_patients(request))
        .first()
    )
    if member is None:
        raise Http404("No questionnaire with this response code.")
    definition = member.wave.questionnaire.definition
    response = getattr(member, "response", None) if member.status == MemberStatus.RETURNED else None
    form = QuestionnaireForm(request.POST if request.method == "POST" else None, definition=definition, paper=True)
    if response is None and request.method == "POST" and form.is_valid():
        try:
            services.response_submit(
                user=request.user, member=member, answers=form.answers(), via="paper", returned_on=form.returned_on
            )
        except services.AlreadyReturned as error:
            # Returned meanwhile (online, or by a colleague): the page shows what was saved.
            _flash_errors(request, error)
            return redirect("followup_paper_entry", code=member.response_code)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            reported = member.response.reported.count()
            messages.success(
                request,
                f"Questionnaire of {member.patient.study_id} saved: {reported} reported "
                f"{'event' if reported == 1 else 'events'}, each with a source-document request.",
            )
            return redirect(reverse("followup_paper_find"))
    return render(
        request,
        "followup/paper_entry.html",
        {
            "member": member,
            "form": form,
            "response": response,
            "reported": response.reported.select_related("clinical_event") if response else [],
        },
    )


# Source-document requests -----------------------------------------------------------------------


@require_http_methods(["GET"])
@role_required(FOLLOW_UP_WAVES)
def request_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    requests = SourceDocumentRequest.objects.filter(patient__in=_patients(request)).select_related(
        "patient", "clinical_event", "reported_event"
    )
    if show == "open":
        requests = requests.filter(status__in=OPEN_REQUEST_STATUSES)
    elif show == "received":
        requests = requests.filter(status=RequestStatus.RECEIVED)
    hospital = (request.GET.get("hospital") or "").strip()
    if hospital:
        requests = requests.filter(hospital__icontains=hospital)
    page = Paginator(requests.order_by("hospital", "requested_on", "id"), MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "followup/request_list.html",
        {"page": page, "show": show, "hospital": hospital, "today": timezone.localdate()},
    )


@require_http_methods(_GET_POST)
@role_required(FOLLOW_UP_WAVES)
def request_update(request: HttpRequest, pk: int) -> HttpResponse:
    document_request = get_object_or_404(
        SourceDocumentRequest.objects.select_related("patient", "clinical_event").filter(patient__in=_patients(request)),
        pk=pk,
    )
    form = RequestUpdateForm(
        request.POST if request.method == "POST" else None, initial={"version": document_request.version}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.request_update(
                user=request.user,
                request=document_request,
                status=data["status"],
                on=data["on"],
                document_reference=data["document_reference"],
                note=data["note"],
                expected_version=data["version"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Request to {document_request.hospital or 'the hospital'} updated.")
            return redirect("followup_requests")
    return render(request, "followup/request_update.html", {"form": form, "req": document_request})
