"""Pullback pages: upload (per-file progress through the API), a pullback's page (metadata,
progress, failure and retry, quality control). Thin: role check, access helper, one service."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from registry.access import EDIT_REGISTRY, SEE_IDENTIFIERS, VIEW_PATIENTS, has_role, patient_get_for_user
from registry.views import role_required
from scoring import selectors, services
from scoring.forms import QcForm


@require_GET
@role_required(EDIT_REGISTRY)
def pullback_upload(request: HttpRequest, study_id: str) -> HttpResponse:
    from django.conf import settings

    patient = patient_get_for_user(user=request.user, study_id=study_id)
    return render(request, "scoring/upload.html", {
        "patient": patient, "max_upload_bytes": settings.PULLBACK_MAX_UPLOAD_BYTES,
        "max_upload_mb": settings.PULLBACK_MAX_UPLOAD_BYTES // 2**20,
    })


@require_GET
@role_required(VIEW_PATIENTS)
def pullback_detail(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    latest = selectors.latest_run(pullback)
    return render(request, "scoring/pullback_detail.html", {
        "pullback": pullback, "patient": pullback.patient, "latest": latest, "current": selectors.current_run(pullback),
        "runs": pullback.runs.defer("calcium_map"), "qc_form": QcForm(initial={"qc_status": pullback.qc_status,
                                                                         "exclusion_reason": pullback.exclusion_reason}),
        "show_identifiers": has_role(request.user, SEE_IDENTIFIERS), "can_review": has_role(request.user, EDIT_REGISTRY),
    })


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
        messages.error(request, "Quality control not saved: " + " ".join(e for es in form.errors.values() for e in es))
    return redirect(reverse("pullback_detail", args=[pk]))


@require_POST
@role_required(EDIT_REGISTRY)
def study_pullback_choose(request: HttpRequest, pk: int) -> HttpResponse:
    pullback = selectors.pullback_get_for_user(user=request.user, pullback_id=pk)
    choose = request.POST.get("choose") == "1"
    try:
        services.study_pullback_override(user=request.user, patient=pullback.patient,
                                         pullback=pullback if choose else None, reason=request.POST.get("reason", ""))
        messages.success(request, "Study pullback changed.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(reverse("pullback_detail", args=[pk]))
