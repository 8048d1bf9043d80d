from django.urls import path

from scoring import views

urlpatterns = [
    path("patients/<str:study_id>/upload/", views.pullback_upload, name="pullback_upload"),
    path("<int:pk>/", views.pullback_detail, name="pullback_detail"),
    path("<int:pk>/retry/", views.pullback_retry, name="pullback_retry"),
    path("<int:pk>/qc/", views.pullback_qc, name="pullback_qc"),
    path("<int:pk>/study/", views.study_pullback_choose, name="study_pullback_choose"),
]
