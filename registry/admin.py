"""Django admin: read-mostly views for admins. Registry data is changed through the site's
forms and services (which audit every change), so the admin does not edit patients."""

from django import forms
from django.contrib import admin

from registry import rules
from registry.models import AuditEntry, ImportJob, Site, UserProfile


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ("code", "name")

    def clean_code(self) -> str:
        # The same rule as the CSV import: a site code travels in files and spreadsheets.
        code = self.cleaned_data["code"]
        problems = rules.identifier_problems("site", code)
        if problems:
            raise forms.ValidationError(problems[0].message)
        return code


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    form = SiteForm
    list_display = ("code", "name")


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "site")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("at", "username", "action", "entity", "object_id", "patient")
    list_filter = ("action", "entity")
    search_fields = ("object_id", "patient__study_id", "username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "created_by", "created_at", "status", "progress_percent")
    readonly_fields = [f.name for f in ImportJob._meta.fields]
