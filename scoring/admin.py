"""Django admin for pullbacks: read-only rows plus the "re-score with the active model" action.
Quality control and the study pullback are changed on the site (audited services)."""

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.lazy import lazy_module
from core.roles import ADMIN, has_role, require_role
from scoring.models import CalciumAnnotation, DetectorModelVersion, Pullback, ScoringRun

if TYPE_CHECKING:
    from scoring import services
else:  # pydicom loads with the first use, not with the URLconf or the admin (core/lazy.py)
    services = lazy_module("scoring.services")


class ScoringRunInline(admin.TabularInline):
    model = ScoringRun
    extra = 0
    can_delete = False
    fields = ("created_at", "model_version", "status", "progress_percent", "ics", "is_current", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Pullback)
class PullbackAdmin(admin.ModelAdmin):
    list_display = ("pk", "patient", "created_at", "n_frames", "length_mm", "qc_status", "study_override")
    list_filter = ("qc_status", "manufacturer")
    search_fields = ("patient__study_id",)
    readonly_fields = [f.name for f in Pullback._meta.fields]
    exclude = ("file",)
    inlines = [ScoringRunInline]
    actions = ["rescore"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Re-score with the active detector model (background)")
    def rescore(self, request, queryset):
        runs = services.pullbacks_rescore(user=request.user, pullbacks=list(queryset))
        queued = sum(1 for r in runs if r.status == ScoringRun.Status.QUEUED)
        self.message_user(
            request,
            f"{queued} pullback(s) queued for scoring; {len(runs) - queued} already scored "
            "with this model or in progress. Earlier scores stay in the history.",
            messages.SUCCESS,
        )


@admin.register(ScoringRun)
class ScoringRunAdmin(admin.ModelAdmin):
    list_display = ("pk", "pullback", "model_version", "status", "progress_percent", "ics", "is_current", "created_at")
    list_filter = ("status", "model_version", "is_current")
    exclude = ("calcium_map",)
    readonly_fields = [f.name for f in ScoringRun._meta.fields if f.name != "calcium_map"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ModelVersionRegisterForm(forms.ModelForm):
    """Registering asks only for the model's name in the store; everything else comes from its manifest."""

    class Meta:
        model = DetectorModelVersion
        fields = ["name"]

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.registered = None

    def clean_name(self):
        from scoring.model_versions import model_version_register

        try:
            self.registered = model_version_register(user=self.request.user, name=self.cleaned_data["name"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict.get("name", exc.messages)) from exc
        return self.cleaned_data["name"]


@admin.register(CalciumAnnotation)
class CalciumAnnotationAdmin(admin.ModelAdmin):
    """Read-only: annotations are added and deleted in the frame viewer or by CSV import (audited)."""

    list_display = ("pk", "pullback", "frame", "start_deg", "end_deg", "no_calcium", "created_by", "created_at")
    list_filter = ("no_calcium",)
    readonly_fields = [f.name for f in CalciumAnnotation._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_COMPARED_METRICS = (
    ("accuracy", "A-line accuracy", 3),
    ("precision", "A-line precision", 3),
    ("recall", "A-line recall", 3),
    ("f1", "A-line F1", 3),
    ("ics_mean_diff_vs_annotations", "ICS minus the annotations' ICS (annotated frames, mean)", 1),
    ("ics_icc_vs_annotations", "Agreement with the annotations' ICS (ICC)", 3),
)


def _metric_rows(models: dict) -> list[dict]:
    return [
        {"label": label, "digits": digits, "active": models["active"][key], "candidate": models["candidate"][key]}
        for key, label, digits in _COMPARED_METRICS
    ]


@admin.register(DetectorModelVersion)
class DetectorModelVersionAdmin(admin.ModelAdmin):
    """Register a model of the store ("Add": its name), compare it with the active model on the
    annotated pullbacks, and activate it (action, after a confirmation page that shows the
    comparison): scoring then uses it and every pullback is re-scored in the background, earlier
    scores kept as history."""

    list_display = ("version", "name", "is_active", "accuracy", "compare_link", "created_at", "activated_at", "activated_by")
    list_filter = ("is_active",)
    actions = ["activate"]

    def get_urls(self):
        compare = path(
            "<int:pk>/compare/", self.admin_site.admin_view(self.compare_view), name="scoring_detectormodelversion_compare"
        )
        return [compare, *super().get_urls()]

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        form = ModelVersionRegisterForm

        class _Bound(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, request=request, **kw)

        return _Bound

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in DetectorModelVersion._meta.fields] if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing is edited here; activation is the action
        obj.pk = form.registered.pk  # registered (and audited) by the service in clean_name
        obj.refresh_from_db()

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="A-line accuracy")
    def accuracy(self, obj):
        value = (obj.metrics.get("training") or {}).get("accuracy") if isinstance(obj.metrics, dict) else None
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description="Comparison")
    def compare_link(self, obj):
        url = reverse("admin:scoring_detectormodelversion_compare", args=[obj.pk])
        return format_html('<a href="{}">Compare with active</a>', url)

    def compare_view(self, request, pk: int):
        """The candidate ``pk`` against the active model on the annotated pullbacks (admins only)."""
        require_role(request.user, (ADMIN,))
        candidate = get_object_or_404(DetectorModelVersion, pk=pk)
        return self._comparison_page(request, candidate, confirm=False)

    def _comparison_page(self, request, candidate: DetectorModelVersion, *, confirm: bool) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "candidate": candidate,
            "confirm": confirm,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "title": "Activate this model version?" if confirm else "Compare with the active model",
            **self._comparison_context(candidate),
        }
        return TemplateResponse(request, "admin/scoring/detectormodelversion/compare.html", context)

    def _comparison_context(self, candidate: DetectorModelVersion) -> dict:
        from scoring.detector.compare import bland_altman_figure
        from scoring.detector_comparison import ComparisonError, compare_versions
        from scoring.services import settings_model_name

        active = settings_model_name()
        try:
            comparison = compare_versions(active=active, candidate=candidate.name)
        except ComparisonError as exc:
            return {"active_name": active, "comparison_error": str(exc)}
        result = comparison.result
        figure = bland_altman_figure(
            result, active_label=f"active ({active})", candidate_label=f"candidate ({candidate.name})"
        )
        return {
            "active_name": active,
            "comparison": comparison,
            "result": result,
            "metric_rows": _metric_rows(result["models"]),
            "figure": figure,
        }

    @admin.action(description="Activate (compare with the active model first, then re-score every pullback)")
    def activate(self, request, queryset):
        from scoring.model_versions import model_version_activate

        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version to activate.", messages.ERROR)
            return None
        if not has_role(request.user, (ADMIN,)):
            self.message_user(request, "Only registry administrators activate model versions.", messages.ERROR)
            return None
        if request.POST.get("post") != "yes":  # first the comparison, then the admin confirms
            return self._comparison_page(request, queryset.get(), confirm=True)
        try:
            runs = model_version_activate(user=request.user, version=queryset.get())
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, " ".join(getattr(exc, "messages", [str(exc)])), messages.ERROR)
            return None
        queued = sum(1 for r in runs if r.status == ScoringRun.Status.QUEUED)
        self.message_user(
            request,
            f"Activated. {queued} pullback(s) queued for re-scoring; earlier scores stay in the history.",
            messages.SUCCESS,
        )
        return None
