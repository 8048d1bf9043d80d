"""The analyses API under /api/analyses/."""

from django.urls import path

from analytics import api

urlpatterns = [
    path("", api.AnalysisListCreateApi.as_view(), name="api-analyses"),
    path("cohort-count/", api.CohortCountApi.as_view(), name="api-cohort-count"),
    path("cohorts/", api.SavedCohortListCreateApi.as_view(), name="api-saved-cohorts"),
    path("cohorts/<int:pk>/", api.SavedCohortDetailApi.as_view(), name="api-saved-cohort"),
    path("<int:pk>/", api.AnalysisDetailApi.as_view(), name="api-analysis"),
    path("<int:pk>/rerun/", api.AnalysisRerunApi.as_view(), name="api-analysis-rerun"),
]
