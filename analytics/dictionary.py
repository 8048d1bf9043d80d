"""The analysis data dictionary: the one place that gives every analysis variable, model term,
group, endpoint, model, test and spec item the label a reader sees ("Age (years)", "ICS ≥ 85",
"ICS (per 100 units)", "Target-vessel revascularization").

Tables, figures, CSV/XLSX headers, the run's title and the API's `label` fields all take their
words from here; the internal names (`age_at_index`, `ics_high`) stay in the spec and in the
result's keys. `registry.variables` lists names only; the registry's data-entry pages keep their
own form labels. Pure: no Django.
"""

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

YEAR_DAYS = 365.25


@dataclass(frozen=True)
class Variable:
    label: str
    unit: str = ""
    levels: Mapping[str, str] = field(default_factory=dict)  # stored value -> label

    @property
    def title(self) -> str:
        """The label with its unit, as a table row or axis reads it: "Age (years)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label


# The registry's choices (registry.models), as the analysis shows them; a test keeps them equal.
SEX_LEVELS = {"M": "Male", "F": "Female"}
PRESENTATION_LEVELS = {"ACS": "Acute coronary syndrome", "stable": "Stable angina"}
TREATMENT_LEVELS = {"PCI": "PCI", "CABG": "CABG", "conservative": "Conservative"}
VESSEL_LEVELS = {
    "LAD": "Left anterior descending",
    "LCX": "Left circumflex",
    "RCA": "Right coronary artery",
    "LM": "Left main stem",
}
ICS_SOURCE_LEVELS = {
    "registry import": "Registry import",
    "study core lab": "Study core lab",
    "earlier scoring software": "Earlier scoring software",
    "synthetic": "Synthetic data (demo and tests)",
    "other source": "Other source",
}
EGFR_UNIT = "ml/min/1.73 m²"

VARIABLES: dict[str, Variable] = {
    "study_id": Variable("Study ID"),
    "site": Variable("Site"),
    "sex": Variable("Sex", levels=SEX_LEVELS),
    "male": Variable("Male sex"),
    "age_at_index": Variable("Age", "years"),
    "index_date": Variable("Index procedure date"),
    "hypertension": Variable("Hypertension"),
    "hypercholesterolemia": Variable("Hypercholesterolemia"),
    "statin": Variable("Statin treatment"),
    "diabetes": Variable("Diabetes mellitus"),
    "family_history": Variable("Positive family history"),
    "smoking": Variable("Smoking"),
    "prior_mi": Variable("Previous MI"),
    "prior_pci": Variable("Previous PCI"),
    "prior_cabg": Variable("Previous CABG"),
    "prior_stroke": Variable("Previous stroke"),
    "prior_pad": Variable("Previous PAD"),
    "egfr": Variable("eGFR", EGFR_UNIT),
    "renal_impairment": Variable(f"Renal impairment (eGFR < 60 {EGFR_UNIT})"),
    "presentation": Variable("Presentation", levels=PRESENTATION_LEVELS),
    "acs": Variable("Presentation with ACS"),
    "index_treatment": Variable("Index treatment", levels=TREATMENT_LEVELS),
    "study_vessel": Variable("Study vessel", levels=VESSEL_LEVELS),
    "study_vessel_lad": Variable("Study vessel LAD"),
    "vessel_revascularized": Variable("Study vessel revascularized at index"),
    "ics": Variable("ICS"),
    "ics_source": Variable("ICS source", levels=ICS_SOURCE_LEVELS),
    "last_contact_date": Variable("Date of last contact"),
    "follow_up_days": Variable("Follow-up", "days"),
}

ENDPOINTS = {
    "poce": "POCE",
    "death": "Death",
    "stroke": "Stroke",
    "mi": "Myocardial infarction",
    "revascularization": "Revascularization",
    "tvr": "Target-vessel revascularization",
    "tv_mi": "Target-vessel myocardial infarction",
}
COMPETING_EVENTS = {"death": "Death"}

# Result models (the keys of result["cox"] and of the tables' model column).
MODELS = {
    "univariable": "Univariable",
    "multivariable": "Multivariable",
    "group": "Adjusted, ICS groups",
    "continuous": "Adjusted, ICS per 100 units",
    "cause_specific": "Cause-specific Cox, univariable",
    "fine_gray": "Fine-Gray subdistribution, univariable",
}

# Table 1's tests (analytics.tables): continuous_row and categorical_row choose them.
TESTS = {
    "t-test": "Student's t-test",
    "anova": "One-way ANOVA",
    "mann-whitney": "Mann-Whitney U test (normal approximation, continuity correction)",
    "kruskal-wallis": "Kruskal-Wallis test",
    "chi-square": "Pearson's chi-square test",
    "fisher": "Fisher's exact test",
    "none": "no test (fewer than two groups with values)",
}
SUMMARIES = {"mean_sd": "mean ± SD", "median_iqr": "median (IQR)"}
CUTOFFS = {"median": "the cohort median", "tertiles": "tertiles", "quartiles": "quartiles"}
_QUANTILE_NAMES = {"t": "tertile", "q": "quartile"}

# Abbreviations a table's footnote spells out, as in the study's tables.
ABBREVIATIONS = {
    "ACS": "acute coronary syndrome",
    "CABG": "coronary artery bypass graft",
    "CI": "confidence interval",
    "eGFR": "estimated glomerular filtration rate",
    "HR": "hazard ratio",
    "ICS": "IVUS-calcium score",
    "IQR": "interquartile range",
    "LAD": "left anterior descending",
    "MI": "myocardial infarction",
    "PAD": "peripheral artery disease",
    "PCI": "percutaneous coronary intervention",
    "POCE": "patient-oriented composite endpoint (death, stroke, myocardial infarction or revascularization)",
    "SD": "standard deviation",
}

_OPS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


# Variables, levels, endpoints ----------------------------------------------------------------


def variable_label(name: str) -> str:
    """ "Age (years)" for `age_at_index`; an unknown name in words, never with underscores."""
    variable = VARIABLES.get(name)
    if variable is None:
        return _words(name)
    return variable.title


def level_label(name: str, value: object) -> str:
    """A value of a variable as a reader sees it: yes/no for flags, the registry's words for codes."""
    if isinstance(value, bool) or value in ("True", "False"):
        return "yes" if value in (True, "True") else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    levels = VARIABLES[name].levels if name in VARIABLES else {}
    return levels.get(str(value), str(value))


def endpoint_label(name: str) -> str:
    return ENDPOINTS.get(name, _words(name))


def model_label(name: str) -> str:
    return MODELS.get(name, _words(name))


def test_label(name: str) -> str:
    return TESTS.get(name, _words(name))


def _words(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# Groups and model terms --------------------------------------------------------------------------


def cutoff_text(value: float | str) -> str:
    """An ICS cut-off for a label: as the result shows it (text: its `cutoffs_display`, at the data's
    precision), or a number to 2 decimals at most (59.99999999999999 reads 60), no trailing zeros."""
    if isinstance(value, str):
        return value
    rounded = round(float(value), 2) + 0.0  # + 0.0: no "-0"
    return f"{rounded:.2f}".rstrip("0").rstrip(".")


def group_label(key: str, *, variable: str = "ics", cutoffs: Iterable[float | str] = ()) -> str:
    """ "ICS < 85" / "ICS ≥ 85", "ICS tertile 1 (< 60)", "Diabetes mellitus: yes"."""
    cuts = [cutoff_text(c) for c in cutoffs]
    if variable != "ics":
        return f"{VARIABLES[variable].label if variable in VARIABLES else _words(variable)}: {level_label(variable, key)}"
    if key in ("low", "high"):
        cut = cuts[0] if len(cuts) == 1 else "cut-off"
        return f"ICS < {cut}" if key == "low" else f"ICS ≥ {cut}"
    if len(key) == 2 and key[0] in _QUANTILE_NAMES and key[1].isdigit():
        i = int(key[1])
        return f"ICS {_QUANTILE_NAMES[key[0]]} {i}{_range(i, cuts)}"
    return f"ICS {key}"


def group_short_label(key: str, *, variable: str = "ics", cutoffs: Iterable[float | str] = ()) -> str:
    """A group as a figure's at-risk row names it (the legend has the full label): "ICS ≥ 85",
    "Tertile 2", "yes", "PCI", "LAD" (a category's code where its label is long)."""
    if variable != "ics":
        label = level_label(variable, key)
        return label if len(label) <= 12 else str(key)
    if len(key) == 2 and key[0] in _QUANTILE_NAMES and key[1].isdigit():
        return f"{_QUANTILE_NAMES[key[0]].capitalize()} {key[1]}"
    return group_label(key, variable=variable, cutoffs=cutoffs)


def _range(i: int, cuts: list[str]) -> str:
    """The ICS range of quantile group i (1-based) between the cut values."""
    if not cuts or i > len(cuts) + 1:
        return ""
    if i == 1:
        return f" (< {cuts[0]})"
    if i == len(cuts) + 1:
        return f" (≥ {cuts[-1]})"
    return f" ({cuts[i - 2]} to < {cuts[i - 1]})"


def term_label(term: str, *, variable: str = "ics", cutoffs: Iterable[float | str] = ()) -> str:
    """A model term: "ICS ≥ 85" (ics_high), "ICS (per 100 units)", "ICS tertile 2 (60 to < 142)"
    (group_t2, against tertile 1), or the covariate's label ("Age (years)")."""
    if term == "ics_high":
        return group_label("high", variable=variable, cutoffs=cutoffs)
    if term == "ics_per_100":
        return "ICS (per 100 units)"
    if term == "GLOBAL":
        return "Global"
    if term.startswith("group_"):
        return group_label(term.removeprefix("group_"), variable=variable, cutoffs=cutoffs)
    return variable_label(term)


def exposure_text(exposure: str, *, variable: str = "ics", cutoffs: Iterable[float | str] = ()) -> str:
    """The subgroup forest's exposure: "ICS ≥ 85 vs ICS < 85" (ics_high) or "ICS (per 100 units)"."""
    if exposure == "ics_high":
        cuts = list(cutoffs)
        return f"{group_label('high', variable=variable, cutoffs=cuts)} vs {group_label('low', variable=variable, cutoffs=cuts)}"
    return term_label(exposure, variable=variable, cutoffs=cutoffs)


# The spec in words -----------------------------------------------------------------------------------


def filter_text(f: Mapping[str, Any]) -> str:
    """One cohort filter in words: "ICS recorded", "Study vessel: Left circumflex or Left main stem"."""
    name, op, value = str(f.get("field", "")), f.get("op"), f.get("value")
    label = VARIABLES[name].label if name in VARIABLES else _words(name)
    titled = variable_label(name)
    if op == "is_missing":
        return f"{label} {'missing' if value in (True, None) else 'recorded'}"
    if op == "in" and isinstance(value, list):
        return f"{label}: {' or '.join(level_label(name, v) for v in value)}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        return f"{titled} from {_value(name, value[0])} to {_value(name, value[1])}"
    if op in ("eq", "ne") and (isinstance(value, (bool, str)) or VARIABLES.get(name, Variable("")).levels):
        negation = "not " if op == "ne" else ""
        return f"{label}: {negation}{level_label(name, value)}"
    return f"{titled} {_OPS.get(str(op), str(op))} {_value(name, value)}"


def _value(name: str, value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return level_label(name, value) if isinstance(value, (bool, str)) else str(value)


def horizon_text(days: float) -> str:
    return f"{days:g} days ({days / YEAR_DAYS:.1f} years)"


def grouping_text(grouping: Mapping[str, Any]) -> str:
    """ "ICS split at the cohort median", "ICS split at 85", "ICS tertiles", "Diabetes mellitus"."""
    variable, cutoff = grouping.get("variable", "ics"), grouping.get("cutoff", "median")
    if variable != "ics":
        return VARIABLES[variable].label if variable in VARIABLES else _words(variable)
    if isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool):
        return f"ICS split at {cutoff_text(cutoff)}"
    if cutoff in ("tertiles", "quartiles"):
        return f"ICS {cutoff}"
    return "ICS split at the cohort median"


def describe_spec(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The spec as (item, value) rows in words, for the XLSX "Analysis" sheet and the report."""
    covariates = spec.get("covariates") or []
    filters = (spec.get("cohort") or {}).get("filters") or []
    rows = [
        ("Endpoint", endpoint_label(spec.get("endpoint", "poce"))),
        ("Follow-up horizon", horizon_text(spec.get("horizon_days", 2191))),
        ("Groups", grouping_text(spec.get("grouping") or {})),
        ("Covariates of the adjusted models", ", ".join(variable_label(c) for c in covariates) or "none"),
        ("Competing event", COMPETING_EVENTS.get(spec.get("competing_event", "death"), "Death")),
        (
            "Events counted",
            "verified and pending (unverified)" if spec.get("count_pending", True) else "verified only",
        ),
    ]
    rows += [("Cohort", filter_text(f)) for f in filters if isinstance(f, Mapping)] or [("Cohort", "all patients")]
    if spec.get("subgroup"):
        rows.append(("Subgroups by", variable_label(spec["subgroup"])))
    rows += _optional_analyses(spec)
    known = {"cohort", "grouping", "endpoint", "horizon_days", "covariates", "competing_event", "count_pending", "subgroup"}
    known |= {"spline", "rmst", "subgroup_forest"}
    rows += [(_words(k), _plain(v)) for k, v in spec.items() if k not in known]
    return rows


def _optional_analyses(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The optional analyses (issue 13) asked for, in words."""
    rows = []
    spline = spec.get("spline")
    if isinstance(spline, Mapping):
        reference = spline.get("reference", 85)
        reference_text = cutoff_text(reference) if isinstance(reference, (int, float)) else str(reference)
        rows.append(
            ("ICS spline", f"natural cubic spline, {spline.get('df', 3)} df, hazard ratios against ICS {reference_text}")
        )
    rmst = spec.get("rmst")
    if isinstance(rmst, Mapping):
        tau = rmst.get("tau", spec.get("horizon_days", 2191))
        rows.append(
            ("Restricted mean survival time", f"up to day {cutoff_text(tau) if isinstance(tau, (int, float)) else tau}")
        )
    forest = spec.get("subgroup_forest")
    if forest:
        names = ", ".join(variable_label(str(v)) for v in forest) if isinstance(forest, list) else "the study's subgroups"
        rows.append(("Subgroup forest by", names))
    return rows


def _plain(value: object) -> str:
    """A spec value the dictionary does not know, in words (never a Python repr)."""
    if isinstance(value, Mapping):
        return ", ".join(f"{_words(k).lower()} {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _groups_text(grouping: Mapping[str, Any]) -> str:
    text = grouping_text(grouping)
    return text if grouping.get("variable", "ics") == "ics" else f"groups by {text.lower()}"


def spec_summary(spec: Mapping[str, Any]) -> str:
    """A run's title: "POCE, 2191 days (6.0 years), ICS split at the cohort median; cohort: ICS recorded"."""
    parts = [
        endpoint_label(spec.get("endpoint", "poce")),
        horizon_text(spec.get("horizon_days", 2191)),
        _groups_text(spec.get("grouping") or {}),
    ]
    if spec.get("subgroup"):
        parts.append(f"subgroups by {variable_label(spec['subgroup']).lower()}")
    if spec.get("count_pending") is False:
        parts.append("verified events only")
    filters = [filter_text(f) for f in (spec.get("cohort") or {}).get("filters") or [] if isinstance(f, Mapping)]
    return f"{', '.join(parts)}; cohort: {', '.join(filters) or 'all patients'}"


# Labels in a result ----------------------------------------------------------------------------------

# Result parts that hold arrays by group (no labels to add) and are not walked.
_SKIP = {"km", "cif", "spec", "versions", "cutoffs", "cutoffs_display", "curve"}


def grouping_context(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a result's group labels need: its grouping variable and its cut-offs as shown (the
    result's `cutoffs_display`, at the data's precision; else the numbers, rounded here)."""
    spec = result.get("spec") or {}
    shown = result.get("cutoffs_display") or []
    numbers = [c for c in result.get("cutoffs") or [] if isinstance(c, (int, float)) and math.isfinite(c)]
    return {"variable": (spec.get("grouping") or {}).get("variable", "ics"), "cutoffs": shown or numbers}


def label_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result with a `label` next to each group, model term, Table 1 variable and subgroup
    panel (overwriting the labels it was stored with), `endpoint_label`, and `title`.

    Arrays (Kaplan-Meier, cumulative incidence) are shared with `result`, not copied."""
    spec = result.get("spec") or {}
    context = grouping_context(result)
    keys = {g["key"] for g in result.get("groups") or [] if isinstance(g, Mapping) and "key" in g}
    labelled: dict[str, Any] = _labelled(result, context, keys)
    labelled["endpoint_label"] = endpoint_label(spec.get("endpoint", "poce"))
    labelled["title"] = spec_summary(spec)
    return labelled


def _labelled(value: Any, context: dict[str, Any], keys: set[str]) -> Any:
    if isinstance(value, list):
        return [_labelled(v, context, keys) for v in value] if any(isinstance(v, (dict, list)) for v in value) else value
    if not isinstance(value, Mapping):
        return value
    if "result" in value and "variable" in value and "value" in value:  # a subgroup panel
        panel = {**value, "label": f"{variable_label(value['variable'])}: {level_label(value['variable'], value['value'])}"}
        if isinstance(value["result"], Mapping):
            panel["result"] = label_result(value["result"])
        return panel
    out = {k: (v if k in _SKIP else _labelled(v, context, keys)) for k, v in value.items()}
    out.update(_labels_of(out, context, keys))
    return out


def _labels_of(part: dict[str, Any], context: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The label fields for one part of a result: a model row (term), a group, a Table 1 row, a
    subgroup-forest row or the forest itself (exposure)."""
    labels: dict[str, Any] = {}
    variable = part.get("variable")
    if isinstance(part.get("term"), str):
        labels["label"] = term_label(part["term"], **context)
    elif isinstance(part.get("key"), str) and part["key"] in keys and "n" in part:  # a group
        labels["label"] = group_label(part["key"], **context)
    elif isinstance(part.get("group"), str) and part["group"] in keys:  # an RMST row (stored as "ICS t1")
        labels["label"] = group_label(part["group"], **context)
    elif isinstance(variable, str) and "kind" in part:  # a Table 1 row
        labels["label"] = variable_label(variable)
        labels["level_labels"] = [level_label(variable, v) for v in part.get("levels") or []]
        labels["test_label"] = test_label(str(part.get("test", "none")))
    elif isinstance(variable, str) and isinstance(part.get("levels"), list):  # a subgroup-forest row
        labels["label"] = variable_label(variable)
    if isinstance(part.get("exposure"), str):
        labels["exposure_label"] = term_label(part["exposure"], **context)
    return labels


def key_number_label(name: str, result: Mapping[str, Any]) -> str:
    """A "what changed" number's name (analytics.selectors.key_numbers: "HR ics_high (univariable)",
    "<stored group label>: events") in the dictionary's words, for `result`'s grouping."""
    context = grouping_context(result)
    model = re.fullmatch(r"(HR|p) (\S+) \((univariable|adjusted)\)", name)
    if model:
        return f"{model[1]} {term_label(model[2], **context)} ({model[3]})"
    for group in result.get("groups") or []:
        stored = f"{group.get('label')}: "
        if name.startswith(stored):
            return f"{group_label(group['key'], **context)}: {name.removeprefix(stored)}"
    return name
