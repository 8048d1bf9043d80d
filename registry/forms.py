"""Forms of the registry pages. They parse and label input only: the rules live in
`registry.rules` and are applied by the services, whose errors `add_service_errors` puts next
to the named field."""

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms.models import fields_for_model

from registry import csv_io, follow_up
from registry.csv_io import EVENTS_FILE, PATIENTS_FILE
from registry.import_text import INPUT_FILES
from registry.models import (
    BASELINE_FLAGS,
    ClinicalEvent,
    ContactMethod,
    DatePrecision,
    EventSource,
    FollowUpContact,
    Patient,
    PatientIdentity,
    Verification,
)
from registry.rules import age_birth_mismatch
from registry.services import CONTACT_FIELDS, EVENT_FIELDS, IDENTITY_FIELDS, PATIENT_FIELDS

FOLLOW_UP_STATUSES = ("active", "overdue", "lost", "complete", "deceased", "withdrawn")

# Service field names that a form shows under another name.
_FIELD_ALIASES = {"ics": "ics_imported"}


class DateInput(forms.DateInput):
    """A native date picker; the value is always ISO (YYYY-MM-DD), whatever the locale."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def _formfield(db_field: models.Field, **kwargs) -> forms.Field | None:
    if isinstance(db_field, models.DateField) and not isinstance(db_field, models.DateTimeField):
        kwargs["widget"] = DateInput
    return db_field.formfield(**kwargs)


def _model_fields(model: type[models.Model], names: tuple[str, ...]) -> dict[str, forms.Field]:
    # Yes/no fields with null=True become a 3-way select (Unknown / Yes / No), "Unknown" first:
    # a missing baseline value is never entered as "no" by default.
    return fields_for_model(model, fields=names, formfield_callback=_formfield)


def _reason_field(*, required: bool, label: str = "Reason for change") -> forms.CharField:
    return forms.CharField(label=label, required=required, widget=forms.Textarea(attrs={"rows": 2}))


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names; the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for name, messages in error.message_dict.items():
        name = _FIELD_ALIASES.get(name, name)
        form.add_error(name if name in form.fields else None, messages)


def version_field(*, required: bool = True) -> forms.IntegerField:
    """The hidden row version an edit form was opened with; a save from an older version is refused."""
    return forms.IntegerField(
        widget=forms.HiddenInput,
        required=required,
        min_value=1,
        max_value=2**31 - 1,
        error_messages={
            "required": "This form was opened without the record's version: reload the page and make your change again."
        },
    )


class _Form(forms.Form):
    """A hidden field's errors (e.g. a missing version) are shown above the form, not lost."""

    def _post_clean(self):
        super()._post_clean()
        for bound in self.hidden_fields():
            for message in self.errors.pop(bound.name, []):
                self.add_error(None, message)


class _RegistryForm(_Form):
    """Fields built from the model at init; the first field gets the focus."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields = {**self._build_fields(), **self.fields}
        first = next(iter(self.fields.values()), None)
        if first is not None:
            first.widget.attrs["autofocus"] = True

    def _build_fields(self) -> dict[str, forms.Field]:
        return {}

    def data_for(self, names: tuple[str, ...]) -> dict:
        return {name: self.cleaned_data[name] for name in names if name in self.cleaned_data}


class PatientForm(_RegistryForm):
    """Enrolment and edit: every patient field; `sites` limits the site select."""

    def __init__(self, *args, sites: QuerySet, **kwargs):
        self._sites = sites
        super().__init__(*args, **kwargs)

    # Legend -> field names; the page shows one fieldset each, in this (tab) order.
    SECTIONS = (
        ("Patient", ("study_id", "site", "sex", "age_at_index")),
        ("Index procedure", ("index_date", "presentation", "index_treatment", "study_vessel", "vessel_revascularized")),
        ("Baseline (Unknown = not recorded)", (*BASELINE_FLAGS, "egfr")),
        ("Imported ICS", ("ics_imported", "ics_imported_source")),
        ("Identifiers (optional)", IDENTITY_FIELDS),
        ("Change", ("reason",)),
    )

    def _build_fields(self) -> dict[str, forms.Field]:
        fields = _model_fields(Patient, PATIENT_FIELDS)
        site = fields["site"]
        assert isinstance(site, forms.ModelChoiceField)  # the form field of a foreign key
        site.queryset = self._sites
        if len(self._sites) == 1:
            fields["site"].initial = self._sites[0].pk
        fields["study_id"].label = "Study ID"
        fields["ics_imported_source"].label = "Source of the imported ICS"
        # Django capitalises a model field's verbose name ("EGFR"): the labels that start in lower case are set here.
        fields["egfr"].label = "eGFR (ml/min/1.73 m²)"
        fields["egfr"].help_text = "Estimated glomerular filtration rate at baseline, 0-200."
        fields["age_at_index"].help_text = "Left empty, it is computed from the date of birth (if given)."
        return fields

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        placed = {name for _, names in self.SECTIONS for name in names} | {f.name for f in self.hidden_fields()}
        sections = [(legend, [self[n] for n in names if n in self.fields]) for legend, names in self.SECTIONS]
        # A field added to the model but not (yet) to SECTIONS is still shown.
        sections.append(("Other", [self[n] for n in self.fields if n not in placed]))
        return [(legend, fields) for legend, fields in sections if fields]


class PatientEnrolForm(PatientForm):
    """Enrolment: the patient plus optional direct identifiers; an age at index and a date of birth
    given together must agree (to within a year)."""

    def _build_fields(self) -> dict[str, forms.Field]:
        fields = super()._build_fields()
        fields.update(_model_fields(PatientIdentity, IDENTITY_FIELDS))
        return fields

    def clean(self):
        cleaned = super().clean()
        message = age_birth_mismatch(
            age_at_index=cleaned.get("age_at_index"),
            date_of_birth=cleaned.get("date_of_birth"),
            index_date=cleaned.get("index_date"),
        )
        if message:
            self.add_error("age_at_index", message)
        return cleaned


class PatientEditForm(PatientForm):
    reason = _reason_field(required=True)
    version = version_field()


class IdentityForm(_RegistryForm):
    reason = _reason_field(required=False, label="Reason for change (required when changing an existing value)")
    # Absent while the patient has no identifiers yet (nothing to overwrite).
    version = version_field(required=False)

    def _build_fields(self) -> dict[str, forms.Field]:
        return _model_fields(PatientIdentity, IDENTITY_FIELDS)


class WithdrawForm(forms.Form):
    withdrawn_on = forms.DateField(label="Withdrawn on", widget=DateInput(attrs={"autofocus": True}))
    reason = _reason_field(required=True, label="Reason for withdrawal")


def _without_choice(field: forms.Field, value: str) -> None:
    assert isinstance(field, forms.ChoiceField)  # the form field of a model field with choices
    # Set, the choices are kept as a list of (value, label) pairs; the stubs type them as any choices input.
    pairs: list[tuple[Any, Any]] = list(field.choices)  # type: ignore[arg-type]
    field.choices = [c for c in pairs if c[0] != value]


class ContactForm(_RegistryForm):
    # The "registry import" method and source belong to the CSV import, not to data entry;
    # edit forms keep them so that an imported row can still be corrected.
    _new = True

    def _build_fields(self) -> dict[str, forms.Field]:
        fields = _model_fields(FollowUpContact, CONTACT_FIELDS)
        if self._new:
            _without_choice(fields["method"], ContactMethod.REGISTRY_IMPORT)
        return fields


class ContactEditForm(ContactForm):
    _new = False
    reason = _reason_field(required=True)
    version = version_field()


class EventForm(_RegistryForm):
    _new = True

    def _build_fields(self) -> dict[str, forms.Field]:
        fields = _model_fields(ClinicalEvent, EVENT_FIELDS)
        if self._new:
            _without_choice(fields["source"], EventSource.REGISTRY_IMPORT)
        fields["target_vessel"].help_text = "MI and revascularization only."
        fields["revascularization_method"].help_text = "Revascularization only."
        # An exact date unless said otherwise (a patient's "March 2025" comes in as "month").
        fields["event_date_precision"] = forms.TypedChoiceField(
            label="Precision of the date",
            choices=DatePrecision.choices,
            required=False,
            empty_value=DatePrecision.DAY,
            initial=DatePrecision.DAY,
            help_text="Set to exact once the source document gives the day.",
        )
        return fields


class EventEditForm(EventForm):
    _new = False
    reason = _reason_field(required=True)
    version = version_field()


class DeleteForm(_Form):
    reason = forms.CharField(label="Reason for deletion", widget=forms.Textarea(attrs={"rows": 2, "autofocus": True}))
    version = version_field(required=False)


class EventVerifyForm(_Form):
    decision = forms.ChoiceField(
        label="Decision",
        choices=[(Verification.VERIFIED, "Verified against source"), (Verification.REJECTED, "Rejected")],
        widget=forms.Select(attrs={"autofocus": True}),
    )
    source_document = forms.CharField(label="Source document reference", required=False, max_length=200)
    reason = forms.CharField(label="Reason (required to reject)", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # The one-click forms of the timeline and worklist post the version they showed.
    version = version_field(required=False)


class PatientFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100, widget=forms.SearchInput(attrs={"autofocus": True}))
    site = forms.ChoiceField(label="Site", required=False)
    status = forms.ChoiceField(
        label="Follow-up status",
        required=False,
        choices=[("", "All"), *((s, s.capitalize()) for s in FOLLOW_UP_STATUSES)],
    )

    def __init__(self, *args, site_codes: list[str], search_label: str, **kwargs):
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        assert isinstance(site, forms.ChoiceField)
        site.choices = [("", "All sites"), *((c, c) for c in site_codes)]
        self.fields["q"].label = search_label


class ImportForm(forms.Form):
    """The two input files. Each is checked before an import is queued: its size, and from its name
    and first bytes that it is CSV UTF-8 text with its file's header (not a DICOM image, a
    workbook, or the other file)."""

    patients_file = forms.FileField(
        label="patients.csv", widget=forms.FileInput(attrs={"autofocus": True, "accept": ".csv,text/csv"})
    )
    events_file = forms.FileField(
        label="events.csv (optional)", required=False, widget=forms.FileInput(attrs={"accept": ".csv,text/csv"})
    )

    def clean(self):
        cleaned = super().clean()
        for name, file in (("patients_file", PATIENTS_FILE), ("events_file", EVENTS_FILE)):
            upload = cleaned.get(name)
            if upload is None:
                continue
            problem = self._too_large(upload) or self._not_csv(upload, file)
            if problem:
                self.add_error(name, problem)
        return cleaned

    @staticmethod
    def _too_large(upload) -> str | None:
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            limit_mb = settings.IMPORT_MAX_UPLOAD_BYTES / (1024 * 1024)
            return f"The file is larger than the limit of {limit_mb:g} MB."
        return None

    @staticmethod
    def _not_csv(upload, file: str) -> str | None:
        head = upload.read(csv_io.UPLOAD_SNIFF_BYTES)
        upload.seek(0)
        columns, optional = INPUT_FILES[file]
        others = {other: cols for other, (cols, _) in INPUT_FILES.items()}
        return csv_io.upload_problem(
            head, name=upload.name, file=file, columns=columns, optional_columns=optional, other_files=others
        )


class AnalysisExportForm(forms.Form):
    horizon_days = forms.IntegerField(
        label="Horizon (days)",
        required=False,
        min_value=1,
        max_value=follow_up.MAX_HORIZON_DAYS,
        help_text=f"Default {settings.FOLLOW_UP_HORIZON_DAYS} days (6 years).",
    )
    count_pending = forms.TypedChoiceField(
        label="Count events pending verification",
        required=False,
        choices=[("yes", "Yes"), ("no", "No (verified events only)")],
        coerce=lambda v: v == "yes",
        empty_value=True,  # type: ignore[arg-type]  # any value is allowed; the stubs say str | None
    )

    def clean_horizon_days(self) -> int:
        value = self.cleaned_data.get("horizon_days")
        return settings.FOLLOW_UP_HORIZON_DAYS if value is None else value
