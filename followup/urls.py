from django.urls import path

from followup import dashboard_views, letter_views, views

urlpatterns = [
    path("", views.wave_list, name="followup_wave_list"),
    path("new/", views.wave_create, name="followup_wave_create"),
    path("<int:pk>/", views.wave_detail, name="followup_wave_detail"),
    path("<int:pk>/sent/", views.letters_sent, name="followup_letters_sent"),
    path("<int:pk>/reminders/", views.reminders_sent, name="followup_reminders_sent"),
    path("<int:pk>/close/", views.wave_close, name="followup_wave_close"),
    path("<int:pk>/dashboard/", dashboard_views.wave_dashboard_view, name="followup_wave_dashboard"),
    path("<int:pk>/letters.pdf", letter_views.wave_letters, name="followup_wave_letters"),
    path("<int:pk>/links.csv", letter_views.wave_links, name="followup_wave_links"),
    path("members/<int:pk>/letter.pdf", letter_views.member_letter, name="followup_member_letter"),
    path("members/<int:pk>/mark/", views.member_mark, name="followup_member_mark"),
    path("entry/", views.paper_find, name="followup_paper_find"),
    path("entry/<str:code>/", views.paper_entry, name="followup_paper_entry"),
    path("requests/", views.request_list, name="followup_requests"),
    path("requests/<int:pk>/", views.request_update, name="followup_request_update"),
]
