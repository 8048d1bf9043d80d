from django import forms

from scoring.models import ExclusionReason, QcStatus


class QcForm(forms.Form):
    qc_status = forms.ChoiceField(label="Quality control", choices=QcStatus.choices)
    exclusion_reason = forms.ChoiceField(
        label="Reason for exclusion", required=False, choices=[("", "—")] + list(ExclusionReason.choices)
    )
    note = forms.CharField(label="Note (required for a change)", required=False, widget=forms.Textarea(attrs={"rows": 2}))


class AnnotationForm(forms.Form):
    """A calcium arc typed in degrees (the keyboard alternative to drawing it on the frame)."""

    frame = forms.IntegerField(label="Frame (1-based, as shown)", min_value=1)
    start_deg = forms.FloatField(label="Start (degrees)", min_value=0, max_value=359.999, initial=0, required=False)
    end_deg = forms.FloatField(label="End (degrees)", min_value=0, max_value=359.999, initial=0, required=False)
    no_calcium = forms.BooleanField(label="Frame reviewed: no calcium", required=False)


class AnnotationImportForm(forms.Form):
    file = forms.FileField(
        label="annotations.csv", help_text="Columns pullback, frame, start_deg, end_deg (and optionally no_calcium 0/1)."
    )
