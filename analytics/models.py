"""Stored analyses: every run keeps its spec, the hash of the data it used, library versions and
its result (reproducibility, issue 5), and investigators' saved cohorts (named filter lists)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import BackgroundJob
from registry.models import Site


class AnalysisRun(BackgroundJob):
    """One run of analytics.analysis.run_analysis on the registry, in the web process or a worker (core.jobs)."""

    spec = models.JSONField()
    # SHA-256 of the canonical spec JSON: finds the previous run of the same analysis.
    spec_hash = models.CharField(max_length=64, db_index=True)
    # The patients the run could use: the ids of its creator's sites at the time of the run, sorted
    # (registry.access.user_site_ids); None = all sites.
    site_ids = models.JSONField(null=True, blank=True)
    data_hash = models.CharField(max_length=64, blank=True)
    versions = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    n_patients = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(progress_percent__lte=100), name="analysis_run_progress_0_100"),
        ]

    def __str__(self) -> str:
        return f"analysis {self.pk} ({self.status})"

    @property
    def site_codes(self) -> list[str] | None:
        """The codes of the sites in the run's scope, sorted; None = all sites."""
        if self.site_ids is None:
            return None
        return sorted(Site.objects.filter(pk__in=self.site_ids).values_list("code", flat=True))


class SavedCohort(models.Model):
    """A named list of cohort filters (the spec's cohort.filters), reused in the cohort builder."""

    name = models.CharField(max_length=120)
    filters = models.JSONField(default=list)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_cohorts")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="saved_cohort_unique_name_per_owner")]

    def __str__(self) -> str:
        return self.name
