from django.urls import path

from registry import views

_PATIENT = "patients/<str:study_id>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("worklist/", views.worklist, name="worklist"),
    path("patients/", views.patient_list, name="patient_list"),
    path("patients/new/", views.patient_create, name="patient_create"),
    path(_PATIENT, views.patient_detail, name="patient_detail"),
    path(_PATIENT + "edit/", views.patient_edit, name="patient_edit"),
    path(_PATIENT + "identity/", views.identity_edit, name="identity_edit"),
    path(_PATIENT + "withdraw/", views.patient_withdraw, name="patient_withdraw"),
    path(_PATIENT + "contacts/new/", views.contact_create, name="contact_create"),
    path(_PATIENT + "contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path(_PATIENT + "contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path(_PATIENT + "events/new/", views.event_create, name="event_create"),
    path(_PATIENT + "events/<int:pk>/edit/", views.event_edit, name="event_edit"),
    path(_PATIENT + "events/<int:pk>/delete/", views.event_delete, name="event_delete"),
    path(_PATIENT + "events/<int:pk>/verify/", views.event_verify, name="event_verify"),
    path("import/", views.import_upload, name="import_upload"),
    path("import/history/", views.import_history, name="import_history"),
    path("import/dictionary/", views.import_dictionary, name="import_dictionary"),
    path("import/template/<str:file>", views.import_template, name="import_template"),
    path("import/<int:pk>/", views.import_detail, name="import_detail"),
    path("import/<int:pk>/status.json", views.import_status, name="import_status"),
    path("export/", views.export, name="export"),
    path("export/patients.csv", views.export_patients, name="export_patients"),
    path("export/events.csv", views.export_events, name="export_events"),
    path("export/analysis_dataset.csv", views.export_analysis, name="export_analysis"),
    path("civil-registry/", views.civil_registry, name="civil_registry"),
    path("civil-registry/request.csv", views.civil_registry_export, name="civil_registry_export"),
]
