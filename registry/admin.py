"""Django admin: read-mostly views for admins. Registry data is changed through the site's
forms and services (which audit every change), so the admin does not edit patients."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

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


class UserProfileInline(admin.StackedInline):
    """The user's sites, on the user's own admin page (registry.access: no site = no patient)."""

    model = UserProfile
    can_delete = False
    fields = ("all_sites", "sites")
    filter_horizontal = ("sites",)
    verbose_name = verbose_name_plural = "registry sites"


class RegistryUserAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, UserProfileInline)
    list_display = (*UserAdmin.list_display, "registry_sites")  # type: ignore[misc]  # the stubs type it with ModelAdmin's type variable

    @admin.display(description="registry sites")
    def registry_sites(self, user: User) -> str:
        try:
            profile = user.registry_profile
        except UserProfile.DoesNotExist:
            return "no site"
        if profile.all_sites:
            return "all sites"
        return ", ".join(sorted(s.code for s in profile.sites.all())) or "no site"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("registry_profile").prefetch_related("registry_profile__sites")


admin.site.unregister(User)
admin.site.register(User, RegistryUserAdmin)


@admin.register(UserProfile)
class UserProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "all_sites", "site_codes")
    fields = ("user", "all_sites", "sites")
    filter_horizontal = ("sites",)

    @admin.display(description="sites")
    def site_codes(self, profile: UserProfile) -> str:
        return ", ".join(sorted(s.code for s in profile.sites.all()))


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
