"""Pullback pages: upload (per-file progress through the API), a pullback's page (metadata,
progress, failure and retry, quality control). Thin: role check, access helper, one service."""

from typing import TYPE_CHECKING

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_GET, require_POST

from core.lazy import lazy_module
from core.models import JobStatus
from core.roles import EDIT_REGISTRY, SEE_IDENTIFIERS, VIEW_PATIENTS, has_role
from registry.access import patient_get_for_user
from registry.patient_page import help_texts
from registry.views import role_required
from scoring import panels, selectors
from scoring.forms import QcForm
from scoring.models import QcStatus, ScoringRun

if TYPE_CHECKING:
    from scoring import services
else:  # pydicom loads with the first use, not with the URLconf or the admin (core/lazy.py)
    services = lazy_module("scoring.services")


@require_GET
@role_required(EDIT_REGISTRY)
def pullback_upload(request: HttpRequest, study_id: str) -> HttpResponse:
    from django.conf import settings

    patient = patient_get_for_user(user=request.user, study_id=study_id)
    return render(
        request,
        "scoring/upload.html",
        {
            "patient": patient,
            "max_upload_bytes": settings.PULLBACK_MAX_UPLOAD_BYTES,
            "max_upload_mb": settings.PULLBACK_MAX_UPLOAD_BYTES // 2**20,
        },
    )


@require_GET
@role_required(VIEW_PATIENTS)
def pullback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    latest, current = selectors.latest_run(pullback), selectors.current_run(pullback)
    rows = selectors.pullback_rows_for_patient(pullback.patient)
    choice = selectors.study_choice(rows)
    return render(
        request,
        "scoring/pullback_detail.html",
        {
            "pullback": pullback,
            "patient": pullback.patient,
            "latest": latest,
            "current": current,
            "view": panels.pullback_view(request, pullback, current),
            "runs": pullback.runs.defer("calcium_map"),
            "qc_form": QcForm(initial={"qc_status": pullback.qc_status, "exclusion_reason": pullback.exclusion_reason}),
            "show_identifiers": has_role(request.user, SEE_IDENTIFIERS),
            "can_review": has_role(request.user, EDIT_REGISTRY),
            "retry_refusal": services.retry_refusal(latest) if latest else "",
            "study_reason": selectors.study_reasons(rows, choice)[pullback.pk],
            "is_study": choice is not None and choice.pullback.pk == pullback.pk,
            "help": help_texts(),
        },
    )


@require_GET
@role_required(VIEW_PATIENTS)
@gzip_page  # 200 kB of figure JSON compresses about tenfold
def pullback_figures(request: HttpRequest, pk: int) -> HttpResponse:
    """The calcium map and arc of the pullback's current run as Plotly figures (JSON): the patient
    page fetches them when its imaging section comes into sight."""
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    run = selectors.current_run(pullback)
    if run is None:
        return JsonResponse({"detail": "This pullback has no score yet."}, status=404)
    return JsonResponse(panels.pullback_figures(pullback, run))


@require_POST
@role_required(EDIT_REGISTRY)
def pullback_retry(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    run = selectors.latest_run(pullback)
    try:
        if run is None:
            services.scoring_run_start(pullback=pullback, user=request.user)
        else:
            services.scoring_run_retry(user=request.user, run=run)
        messages.success(request, "Scoring queued again.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("pullback_detail", args=[pk]))


@require_POST
@role_required(EDIT_REGISTRY)
def pullback_qc(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    form = QcForm(request.POST)
    if form.is_valid():
        try:
            services.pullback_qc_update(user=request.user, pullback=pullback, **form.cleaned_data)
            messages.success(request, "Quality control saved.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, "Quality control not saved: " + " ".join(str(e) for es in form.errors.values() for e in es))
    return redirect(reverse("pullback_detail", args=[pk]))


@require_POST
@role_required(EDIT_REGISTRY)
def study_pullback_choose(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    choose = request.POST.get("choose") == "1"
    try:
        services.study_pullback_override(
            user=request.user,
            patient=pullback.patient,
            pullback=pullback if choose else None,
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, "Study pullback changed.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("pullback_detail", args=[pk]))


# Calcium annotations ------------------------------------------------------------------------


@require_POST
@role_required(EDIT_REGISTRY)
def annotation_add(request: HttpRequest, pk: int) -> HttpResponse:
    """The keyboard/no-script form of the frame viewer: one arc in degrees on a frame (1-based)."""
    from scoring.annotations import annotation_add as add
    from scoring.forms import AnnotationForm

    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    form = AnnotationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            add(
                user=request.user,
                pullback=pullback,
                frame=data["frame"] - 1,
                start_deg=data["start_deg"] or 0.0,
                end_deg=data["end_deg"] or 0.0,
                no_calcium=data["no_calcium"],
            )
            messages.success(request, f"Annotation added on frame {data['frame']}.")
        except ValidationError as exc:
            messages.error(request, "Annotation not added: " + " ".join(exc.messages))
    else:
        messages.error(request, "Annotation not added: " + " ".join(str(e) for es in form.errors.values() for e in es))
    return redirect(reverse("pullback_detail", args=[pk]) + "#annotations")


@require_POST
@role_required(EDIT_REGISTRY)
def annotation_delete(request: HttpRequest, pk: int, annotation_pk: int) -> HttpResponse:
    from django.shortcuts import get_object_or_404

    from scoring.annotations import annotation_delete as delete

    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    delete(user=request.user, annotation=get_object_or_404(pullback.annotations, pk=annotation_pk))
    messages.success(request, "Annotation deleted.")
    return redirect(reverse("pullback_detail", args=[pk]) + "#annotations")


@role_required(EDIT_REGISTRY)
def annotations_import(request: HttpRequest) -> HttpResponse:
    """Upload annotations.csv: all or nothing, with every problem listed by row and column."""
    import io

    from scoring.annotations import AnnotationImportFailed, annotations_import_csv
    from scoring.forms import AnnotationImportForm

    form = AnnotationImportForm(request.POST or None, request.FILES or None)
    problems, written = [], None
    if request.method == "POST" and form.is_valid():
        text = io.TextIOWrapper(form.cleaned_data["file"].file, encoding="utf-8", newline="")
        try:
            written = annotations_import_csv(
                user=request.user, file_obj=text, pullbacks=selectors.pullbacks_for_user(request.user)
            )
            messages.success(request, f"{written} annotation(s) imported.")
        except AnnotationImportFailed as exc:
            problems = exc.problems
    return render(
        request,
        "scoring/annotations_import.html",
        {"form": form, "problems": problems, "written": written},
        status=400 if problems else 200,
    )


@require_GET
@role_required(EDIT_REGISTRY)
def annotations_export(request: HttpRequest) -> HttpResponse:
    """annotations.csv of every pullback the user may see (the import format)."""
    from scoring.annotations import annotations_export_csv

    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="annotations.csv"'
    annotations_export_csv(out=response, pullbacks=selectors.pullbacks_for_user(request.user))
    return response


# Lists: every pullback the user may see, and the scoring queue ------------------------------
# The registry shows neither (it must not import scoring: docs/architecture.md); the menu links here.

PULLBACKS_PER_PAGE = 50
QUEUE_SHOWN = 200  # a re-score of every pullback queues hundreds: the first ones are what matters
# Filter value -> (label, condition on a pullback annotated by _with_latest_run). A pullback's
# state is its QC decision, else its newest run's status.
PULLBACK_STATES = {
    "queued": ("Queued", Q(qc_status=QcStatus.INCLUDED, latest_status=JobStatus.QUEUED)),
    "scoring": ("Scoring", Q(qc_status=QcStatus.INCLUDED, latest_status=JobStatus.RUNNING)),
    "scored": ("Scored", Q(qc_status=QcStatus.INCLUDED, latest_status=JobStatus.SUCCEEDED)),
    "failed": ("Failed", Q(qc_status=QcStatus.INCLUDED, latest_status=JobStatus.FAILED)),
    "excluded": ("Excluded", Q(qc_status=QcStatus.EXCLUDED)),
}


def _with_latest_run(pullbacks: QuerySet) -> QuerySet:
    """Pullbacks with their newest run's status and progress and the current run's ICS (subqueries
    of one statement)."""
    newest = ScoringRun.objects.filter(pullback=OuterRef("pk")).order_by("-created_at", "-pk")
    current = ScoringRun.objects.filter(pullback=OuterRef("pk"), is_current=True, status=JobStatus.SUCCEEDED)
    return pullbacks.annotate(
        latest_status=Subquery(newest.values("status")[:1]),
        latest_progress=Subquery(newest.values("progress_percent")[:1]),
        current_ics=Subquery(current.values("ics")[:1]),
    )


def _state_counts(pullbacks: QuerySet) -> dict[str, int]:
    return pullbacks.aggregate(**{key: Count("pk", filter=condition) for key, (_, condition) in PULLBACK_STATES.items()})


@require_GET
@role_required(VIEW_PATIENTS)
def pullback_list(request: HttpRequest) -> HttpResponse:
    """Every pullback of the patients the user may see, newest first, filtered by ?state=."""
    pullbacks = _with_latest_run(selectors.pullbacks_for_user(request.user))
    state = request.GET.get("state", "")
    shown = pullbacks.filter(PULLBACK_STATES[state][1]) if state in PULLBACK_STATES else pullbacks
    page = Paginator(shown.order_by("-created_at", "-pk"), PULLBACKS_PER_PAGE).get_page(request.GET.get("page"))
    counts = _state_counts(pullbacks)
    filters = [
        {"value": key, "label": label, "count": counts[key], "current": key == state}
        for key, (label, _) in PULLBACK_STATES.items()
    ]
    context = {"tab": "pullbacks", "page": page, "filters": filters, "state": state if state in PULLBACK_STATES else ""}
    return render(request, "scoring/pullback_list.html", context)


@require_GET
@role_required(VIEW_PATIENTS)
def scoring_queue(request: HttpRequest) -> HttpResponse:
    """Scoring runs waiting for or busy on a worker, in the order the workers take them."""
    runs = (
        ScoringRun.objects.filter(
            pullback__in=selectors.pullbacks_for_user(request.user).values("pk"),
            status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        )
        .select_related("pullback__patient__site", "requested_by")
        .defer("calcium_map", "calcium_alines_per_frame")
        .order_by("created_at", "pk")
    )
    context = {"tab": "queue", "runs": list(runs[:QUEUE_SHOWN]), "count": runs.count(), "shown": QUEUE_SHOWN}
    return render(request, "scoring/pullback_list.html", context)
