"""The cohort builder: quick filters for the study's usual selections, free filter rows on any
baseline field, and the analysis options; both ways between the form and a spec's filters."""

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from django import forms
from django.forms import formset_factory

from analytics import dictionary, variables
from analytics.variables import DEFAULT_COVARIATES, DEFAULT_HORIZON_DAYS, SUBGROUP_VARIABLES
from registry.follow_up import MAX_HORIZON_DAYS
from registry.models import IndexTreatment, Vessel

ANY, YES, NO, MISSING = "", "yes", "no", "missing"
_YES_NO_MISSING = [(ANY, "any"), (YES, "yes"), (NO, "no"), (MISSING, "missing")]
_OPS = [(op, op.replace("_", " ")) for op in variables.FILTER_OPS]
CUTOFFS = [("median", "cohort median"), ("number", "a number"), ("tertiles", "tertiles"), ("quartiles", "quartiles")]
# The quick filter fields of CohortForm (the rest are analysis options).
FILTER_FIELDS = (
    "index_date_from",
    "index_date_to",
    "study_vessel",
    "index_treatment",
    "vessel_revascularized",
    "ics_min",
    "ics_max",
    "ics_available",
    "site",
)
COVARIATES = [
    c
    for c in dict.fromkeys([*variables.CONTINUOUS, *variables.TABLE2_VARIABLES, *variables.CATEGORICAL])
    if c not in ("index_treatment", "study_vessel")
]


class CohortForm(forms.Form):
    """Quick filters and analysis options. `sites`: the site codes the user may choose from."""

    index_date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    index_date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    study_vessel = forms.MultipleChoiceField(choices=Vessel.choices, required=False, widget=forms.CheckboxSelectMultiple)
    index_treatment = forms.MultipleChoiceField(
        choices=IndexTreatment.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    vessel_revascularized = forms.ChoiceField(
        label="Study vessel revascularized at index", choices=_YES_NO_MISSING, required=False
    )
    ics_min = forms.FloatField(label="ICS at least", required=False, min_value=0)
    ics_max = forms.FloatField(label="ICS at most", required=False, min_value=0)
    ics_available = forms.ChoiceField(
        label="ICS available", choices=[(ANY, "any"), (YES, "yes"), (NO, "no")], required=False
    )
    site = forms.MultipleChoiceField(choices=[], required=False, widget=forms.CheckboxSelectMultiple)

    grouping = forms.ChoiceField(
        label="Group by",
        initial="ics",
        choices=[("ics", "ICS cut-off"), *[(c, dictionary.variable_label(c)) for c in variables.CATEGORICAL]],
    )
    cutoff = forms.ChoiceField(label="ICS cut-off", choices=CUTOFFS, initial="median")
    cutoff_value = forms.FloatField(label="Cut-off value", required=False, min_value=0)
    endpoint = forms.ChoiceField(choices=[(e, dictionary.endpoint_label(e)) for e in variables.ENDPOINTS], initial="poce")
    horizon_days = forms.IntegerField(
        label="Horizon (days)", min_value=1, max_value=MAX_HORIZON_DAYS, initial=DEFAULT_HORIZON_DAYS
    )
    covariates = forms.MultipleChoiceField(
        choices=[(c, dictionary.variable_label(c)) for c in COVARIATES],
        required=False,
        initial=DEFAULT_COVARIATES,
        widget=forms.CheckboxSelectMultiple,
    )
    count_pending = forms.BooleanField(label="Count pending (unverified) events", required=False, initial=True)
    subgroup = forms.ChoiceField(
        label="Subgroup view by",
        required=False,
        choices=[("", "none"), *[(v, dictionary.variable_label(v)) for v in SUBGROUP_VARIABLES]],
    )
    # Optional analyses (issue 13): the ICS spline, restricted mean survival time, the subgroup forest.
    spline = forms.BooleanField(label="HR curve of the ICS as a continuous exposure (natural spline)", required=False)
    spline_df = forms.IntegerField(
        label="Spline degrees of freedom (1-6)", min_value=1, max_value=6, initial=3, required=False
    )
    spline_reference = forms.FloatField(
        label="Reference ICS (HR = 1)", min_value=0, max_value=1000, initial=85, required=False
    )
    rmst = forms.BooleanField(label="Restricted mean survival time per group", required=False)
    rmst_tau = forms.IntegerField(
        label="RMST up to day (empty: the horizon)", min_value=1, max_value=MAX_HORIZON_DAYS, required=False
    )
    subgroup_forest = forms.MultipleChoiceField(
        label="Subgroup forest plot: ICS hazard ratio per subgroup, with the interaction p",
        choices=[(v, dictionary.variable_label(v)) for v in SUBGROUP_VARIABLES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    cohort_name = forms.CharField(label="Save the cohort as", required=False, max_length=120)

    def __init__(self, *args, sites: Sequence[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        site = self.fields["site"]
        assert isinstance(site, forms.ChoiceField)
        site.choices = [(s, s) for s in sites]

    def clean(self):
        data = super().clean()
        if data.get("cutoff") == "number" and data.get("cutoff_value") is None:
            self.add_error("cutoff_value", "Give the cut-off value, or choose another cut-off.")
        return data


class FilterRowForm(forms.Form):
    """One free filter: field, op, value (lists comma-separated; yes/no for flags; YYYY-MM-DD)."""

    field = forms.ChoiceField(required=False)
    op = forms.ChoiceField(choices=_OPS, required=False)
    value = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, field_kinds: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.field_kinds = field_kinds or {}
        field = self.fields["field"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "-"), *[(f, dictionary.variable_label(f)) for f in self.field_kinds]]

    def clean(self):
        data = super().clean()
        if data.get("field"):
            try:
                data["filter"] = _row_filter(
                    data["field"],
                    data.get("op") or "eq",
                    data.get("value", ""),
                    self.field_kinds.get(data["field"], "category"),
                )
            except ValueError as exc:
                self.add_error("value", str(exc))
        return data


FilterRowFormSet = formset_factory(FilterRowForm, extra=3, max_num=20)


def _row_filter(field: str, op: str, text: str, kind: str) -> dict:
    if op == "is_missing":
        return {"field": field, "op": op, "value": text.strip().lower() not in ("no", "false", "0")}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = [_parse(p, kind) for p in parts]
    if op == "between":
        if len(values) != 2:
            raise ValueError("between needs two values: low, high")
        return {"field": field, "op": op, "value": values}
    if op == "in":
        return {"field": field, "op": op, "value": values}
    if len(values) != 1:
        raise ValueError(f"{op} needs one value")
    return {"field": field, "op": op, "value": values[0]}


def _parse(text: str, kind: str):
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"not a number: {text}") from None
        if not math.isfinite(number):  # "1e400", "nan", "inf" parse, but are no value to filter on
            raise ValueError(f"not a finite number: {text}")
        return number
    if kind == "yes_no":
        lowered = text.lower()
        if lowered in ("yes", "true", "1"):
            return True
        if lowered in ("no", "false", "0"):
            return False
        raise ValueError(f"yes or no, not {text}")
    if kind == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"a date is YYYY-MM-DD, not {text}") from None
    return text


# Form <-> spec ------------------------------------------------------------------------------------


def filters_from(data: dict, rows: list[dict]) -> list[dict]:
    """Spec filters from the cleaned quick filters and the cleaned filter rows."""
    filters = []
    if data.get("index_date_from"):
        filters.append({"field": "index_date", "op": "ge", "value": data["index_date_from"].isoformat()})
    if data.get("index_date_to"):
        filters.append({"field": "index_date", "op": "le", "value": data["index_date_to"].isoformat()})
    for name in ("study_vessel", "index_treatment", "site"):
        if data.get(name):
            filters.append({"field": name, "op": "in", "value": list(data[name])})
    revascularized = data.get("vessel_revascularized")
    if revascularized in (YES, NO):
        filters.append({"field": "vessel_revascularized", "op": "eq", "value": revascularized == YES})
    elif revascularized == MISSING:
        filters.append({"field": "vessel_revascularized", "op": "is_missing", "value": True})
    if data.get("ics_min") is not None:
        filters.append({"field": "ics", "op": "ge", "value": data["ics_min"]})
    if data.get("ics_max") is not None:
        filters.append({"field": "ics", "op": "le", "value": data["ics_max"]})
    if data.get("ics_available") in (YES, NO):
        filters.append({"field": "ics", "op": "is_missing", "value": data["ics_available"] == NO})
    return filters + [r["filter"] for r in rows if r.get("filter")]


def spec_from(data: dict, filters: list[dict]) -> dict:
    cutoff = data["cutoff_value"] if data.get("cutoff") == "number" else data.get("cutoff") or "median"
    grouping = (
        {"variable": data["grouping"], "cutoff": cutoff} if data["grouping"] == "ics" else {"variable": data["grouping"]}
    )
    spec = {
        "cohort": {"filters": filters},
        "grouping": grouping,
        "endpoint": data["endpoint"],
        "horizon_days": data["horizon_days"],
        "covariates": list(data.get("covariates") or []),
        "competing_event": "death",
        "count_pending": bool(data.get("count_pending")),
    }
    if data.get("subgroup"):
        spec["subgroup"] = data["subgroup"]
    if data.get("spline"):
        reference = data.get("spline_reference")
        spec["spline"] = {"df": data.get("spline_df") or 3, "reference": 85 if reference is None else reference}
    if data.get("rmst"):
        spec["rmst"] = {"tau": data["rmst_tau"]} if data.get("rmst_tau") else {}
    if data.get("subgroup_forest"):
        spec["subgroup_forest"] = list(data["subgroup_forest"])
    return spec


def initial_from(filters: list[dict[str, Any]]) -> tuple[dict, list[dict]]:
    """The builder's initial quick filters and free rows for a saved cohort's filters."""
    initial, rows = {}, []
    for f in filters:
        key = (f.get("field"), f.get("op"))
        value: Any = f.get("value")  # a JSON value: a list for "in"
        if key == ("index_date", "ge") and "index_date_from" not in initial:
            initial["index_date_from"] = value
        elif key == ("index_date", "le") and "index_date_to" not in initial:
            initial["index_date_to"] = value
        elif key[1] == "in" and key[0] in ("study_vessel", "index_treatment", "site") and key[0] not in initial:
            initial[key[0]] = list(value)
        elif key == ("vessel_revascularized", "eq") and isinstance(value, bool):
            initial["vessel_revascularized"] = YES if value else NO
        elif key == ("vessel_revascularized", "is_missing") and value in (True, None):
            initial["vessel_revascularized"] = MISSING
        elif key == ("ics", "ge") and "ics_min" not in initial:
            initial["ics_min"] = value
        elif key == ("ics", "le") and "ics_max" not in initial:
            initial["ics_max"] = value
        elif key == ("ics", "is_missing") and isinstance(value, bool):
            initial["ics_available"] = NO if value else YES
        else:
            rows.append({"field": f.get("field"), "op": f.get("op"), "value": _text(value)})
    return initial, rows


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)
