"""The pullback API under /api/pullbacks/."""

from django.urls import path

from scoring import api

urlpatterns = [
    path("patients/<str:study_id>/", api.PullbackListUploadApi.as_view(), name="api-pullbacks"),
    path("<int:pk>/", api.PullbackDetailApi.as_view(), name="api-pullback"),
    path("<int:pk>/results/", api.PullbackResultsApi.as_view(), name="api-pullback-results"),
    path("<int:pk>/calcium-map/", api.PullbackCalciumMapApi.as_view(), name="api-pullback-map"),
    path("<int:pk>/segment-ics/", api.PullbackSegmentIcsApi.as_view(), name="api-pullback-segment"),
    path("<int:pk>/frames/<int:frame>.png", api.PullbackFrameApi.as_view(), name="api-pullback-frame"),
    path("<int:pk>/lmode.png", api.PullbackLmodeApi.as_view(), name="api-pullback-lmode"),
    path("<int:pk>/retry/", api.PullbackRetryApi.as_view(), name="api-pullback-retry"),
    path("<int:pk>/qc/", api.PullbackQcApi.as_view(), name="api-pullback-qc"),
    path("<int:pk>/annotations/", api.PullbackAnnotationListCreateApi.as_view(), name="api-pullback-annotations"),
    path(
        "<int:pk>/annotations/<int:annotation_pk>/",
        api.PullbackAnnotationDeleteApi.as_view(),
        name="api-pullback-annotation",
    ),
]
