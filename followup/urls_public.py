"""The patient's online questionnaire (included at /q/): no login; the token is the key."""

from django.urls import path

from followup import public_views

urlpatterns = [
    # Before the token pattern, which would match "thanks" too.
    path("thanks/", public_views.thanks, name="followup_public_thanks"),
    path("<str:token>/", public_views.questionnaire, name="followup_public_form"),
]
