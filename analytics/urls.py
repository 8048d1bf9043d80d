"""The analytics pages under /analytics/."""

from django.urls import path

from analytics import views

urlpatterns = [
    path("", views.builder, name="analytics_builder"),
    path("count.json", views.builder_count, name="analytics_builder_count"),
    path("cohorts/<int:pk>/delete/", views.cohort_delete, name="analytics_cohort_delete"),
    path("runs/", views.run_list, name="analytics_run_list"),
    path("runs/<int:pk>/", views.run_detail, name="analytics_run_detail"),
    path("runs/<int:pk>/report/", views.run_report, name="analytics_run_report"),
    path("runs/<int:pk>/rerun/", views.run_rerun, name="analytics_run_rerun"),
    path("runs/<int:pk>/tables.xlsx", views.run_export_xlsx, name="analytics_run_xlsx"),
    path("runs/<int:pk>/manuscript-tables.xlsx", views.run_export_manuscript, name="analytics_run_manuscript"),
    path("runs/<int:pk>/figures/<slug:figure>.pdf", views.run_figure_pdf, name="analytics_run_figure_pdf"),
    path("runs/<int:pk>/tables/<slug:table>.csv", views.run_export_csv, name="analytics_run_csv"),
]
