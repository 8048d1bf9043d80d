"""The registry API under /api/ (schema at /api/schema/, docs at /api/docs/)."""

from django.urls import path

from registry import api

urlpatterns = [
    path("auth/token/", api.TokenObtainApi.as_view(), name="api-token"),
    path("patients/", api.PatientListCreateApi.as_view(), name="api-patients"),
    path("patients/<str:study_id>/", api.PatientDetailApi.as_view(), name="api-patient"),
    path("patients/<str:study_id>/withdraw/", api.PatientWithdrawApi.as_view(), name="api-patient-withdraw"),
    path("patients/<str:study_id>/history/", api.PatientHistoryApi.as_view(), name="api-patient-history"),
    path("patients/<str:study_id>/contacts/", api.ContactListCreateApi.as_view(), name="api-contacts"),
    path("patients/<str:study_id>/contacts/<int:pk>/", api.ContactUpdateDeleteApi.as_view(), name="api-contact"),
    path("patients/<str:study_id>/events/", api.EventListCreateApi.as_view(), name="api-patient-events"),
    path("patients/<str:study_id>/events/<int:pk>/", api.EventUpdateDeleteApi.as_view(), name="api-event"),
    path("patients/<str:study_id>/events/<int:pk>/verify/", api.EventVerifyApi.as_view(), name="api-event-verify"),
    path("events/", api.EventListApi.as_view(), name="api-events"),
    path("analysis-dataset/", api.AnalysisDatasetApi.as_view(), name="api-analysis-dataset"),
]
