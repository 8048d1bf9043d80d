from django.urls import path

from followup import dashboard_views, letter_views

urlpatterns = [
    path("<int:pk>/dashboard/", dashboard_views.wave_dashboard_view, name="followup_wave_dashboard"),
    path("<int:pk>/letters.pdf", letter_views.wave_letters, name="followup_wave_letters"),
    path("<int:pk>/links.csv", letter_views.wave_links, name="followup_wave_links"),
    path("members/<int:pk>/letter.pdf", letter_views.member_letter, name="followup_member_letter"),
]
