from django.urls import path

from scoring import views

urlpatterns = [
    path("", views.pullback_list, name="pullback_list"),
    path("queue/", views.scoring_queue, name="scoring_queue"),
    path("patients/<str:study_id>/upload/", views.pullback_upload, name="pullback_upload"),
    path("<int:pk>/", views.pullback_detail, name="pullback_detail"),
    path("<int:pk>/figures.json", views.pullback_figures, name="pullback_figures"),
    path("<int:pk>/retry/", views.pullback_retry, name="pullback_retry"),
    path("<int:pk>/qc/", views.pullback_qc, name="pullback_qc"),
    path("<int:pk>/study/", views.study_pullback_choose, name="study_pullback_choose"),
    path("<int:pk>/annotations/add/", views.annotation_add, name="annotation_add"),
    path("<int:pk>/annotations/<int:annotation_pk>/delete/", views.annotation_delete, name="annotation_delete"),
    path("annotations/import/", views.annotations_import, name="annotations_import"),
    path("annotations/export.csv", views.annotations_export, name="annotations_export"),
]
