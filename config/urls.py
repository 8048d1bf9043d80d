from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


@login_not_required
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


handler500 = "registry.busy.server_error"  # a busy database is a 503 even outside a view

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Password reset by e-mail (Django's views; EMAIL_BACKEND prints to the console unless SMTP is set).
    path("accounts/password-reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), not inline: the
    # Content-Security-Policy (script-src 'self') holds on the docs page too.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/analyses/", include("analytics.api_urls")),
    path("api/pullbacks/", include("scoring.api_urls")),
    path("api/", include("registry.api_urls")),
    path("pullbacks/", include("scoring.urls")),
    path("analytics/", include("analytics.urls")),
    path("followup/", include("followup.urls")),
    path("q/", include("followup.urls_public")),
    path("", include("registry.urls")),
]
