from django import forms

from scoring.models import ExclusionReason, QcStatus


class QcForm(forms.Form):
    qc_status = forms.ChoiceField(label="Quality control", choices=QcStatus.choices)
    exclusion_reason = forms.ChoiceField(label="Reason for exclusion", required=False,
                                         choices=[("", "—")] + list(ExclusionReason.choices))
    note = forms.CharField(label="Note (required for a change)", required=False, widget=forms.Textarea(attrs={"rows": 2}))
