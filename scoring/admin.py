"""Django admin for pullbacks: read-only rows plus the "re-score with the active model" action.
Quality control and the study pullback are changed on the site (audited services)."""

from django.contrib import admin, messages

from scoring import services
from scoring.models import Pullback, ScoringRun


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
        self.message_user(request, f"{queued} pullback(s) queued for scoring; {len(runs) - queued} already scored "
                                   "with this model or in progress. Earlier scores stay in the history.", messages.SUCCESS)


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
