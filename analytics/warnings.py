"""Safeguards: the warnings an analysis result carries, the way R reports them (issue 13).

A warning is a plain dict ``{"code", "message", "model", "term"}``: `model` names the fit it
concerns (one of MODELS, or None for the data as a whole), `term` the coefficient (None when it
concerns the whole model). Every result has a list of them under ``"warnings"``; every hazard
ratio row has ``"model"`` and ``"estimable"``. The page, the CSV/XLSX tables and the forest plot
ask this module whether a row can be shown as a number (`estimable`), what to show instead
(`not_estimable_text`) and which warnings to show next to it (`for_row`).

Pure Python: no Django, no numpy.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Warning = dict[str, Any]

# code -> what it means (docs/statistics.md, "Safeguards", lists the same).
CODES = {
    "coefficient_may_be_infinite": "R's coxph: 'Loglik converged before variable k; coefficient may be infinite'",
    "no_events_in_group": "a group has no events for the endpoint",
    "not_converged": "the iterations ran out before the fit converged",
    "low_events_per_variable": f"fewer than {10} events per model parameter",
    "collinear": "a variable is constant or a combination of the others in the model's data (R: NA)",
    "singular": "the model cannot be fitted",
    "covariate_dropped_in_subgroup": "the subgroup variable is left out of that subgroup's covariates",
}
MIN_EVENTS_PER_VARIABLE = 10

# The fits of one result, by the `model` of their rows and warnings.
MODELS = {
    "cox_univariable_group": "Cox, univariable, ICS groups",
    "cox_univariable_continuous": "Cox, univariable, ICS per 100 units",
    "cox_multivariable_group": "Cox, Model 1 (adjusted, ICS groups)",
    "cox_multivariable_continuous": "Cox, Model 2 (adjusted, ICS per 100 units)",
    "cause_specific_group": "Cause-specific Cox, ICS groups",
    "cause_specific_continuous": "Cause-specific Cox, ICS per 100 units",
    "fine_gray_group": "Fine-Gray subdistribution, ICS groups",
    "fine_gray_continuous": "Fine-Gray subdistribution, ICS per 100 units",
    "ph_test": "Proportional-hazards test (cox.zph), Model 2",
}

# Warnings of a term (or, for `singular`, of a whole model) that leave its HR without a number.
NOT_ESTIMABLE = ("no_events_in_group", "coefficient_may_be_infinite", "collinear", "singular")


def warning(code: str, message: str, *, model: str | None = None, term: str | None = None) -> Warning:
    """One warning (`code` one of CODES here; the spline, RMST and subgroup analyses add their own)."""
    return {"code": code, "message": message, "model": model, "term": term}


# Building ------------------------------------------------------------------------------------


def fit_warnings(
    model: str,
    *,
    terms: Sequence[str],
    converged: bool,
    iterations: int,
    possibly_infinite: Iterable[str] = (),
    infinite_unnamed: bool = False,
    collinear: Iterable[str] = (),
) -> list[Warning]:
    """The warnings of one fitted model, as R's coxph gives them.

    `possibly_infinite`: the terms R names in "Loglik converged before variable k; coefficient
    may be infinite" (only when the fit converged); `infinite_unnamed`: R's "one or more
    coefficients may be infinite" after running out of iterations; `collinear`: the terms R sets to
    NA ("X matrix deemed to be singular")."""
    out = []
    if not converged:
        out.append(warning("not_converged", f"did not converge in {iterations} iterations", model=model))
        if infinite_unnamed:
            out.append(warning("coefficient_may_be_infinite", "one or more coefficients may be infinite", model=model))
    for term in possibly_infinite:
        k = list(terms).index(term) + 1
        message = f"Loglik converged before variable {k}; coefficient may be infinite"  # R's words
        out.append(warning("coefficient_may_be_infinite", message, model=model, term=term))
    for term in collinear:
        message = "constant, or a combination of the other variables, in these patients: no coefficient (R: NA)"
        out.append(warning("collinear", message, model=model, term=term))
    return out


def no_events_warnings(
    model: str, *, events: Mapping[str, int], labels: Mapping[str, str], group_terms: Mapping[str, str]
) -> list[Warning]:
    """`no_events_in_group` for each term a group without events leaves without an estimate.

    `events`: events per group key in the model's data, the reference group first; `group_terms`:
    group key -> its term (the reference group has none: every term is compared with it)."""
    out = []
    for key, n_events in events.items():
        if n_events:
            continue
        concerned = [group_terms[key]] if key in group_terms else list(group_terms.values())
        for term in concerned:
            out.append(warning("no_events_in_group", f"no events in {labels[key]}", model=model, term=term))
    return out


def events_per_variable_warning(model: str, *, events: int, parameters: int) -> list[Warning]:
    """`low_events_per_variable` when there are fewer than 10 events per model parameter."""
    if not parameters or events >= MIN_EVENTS_PER_VARIABLE * parameters:
        return []
    message = (
        f"{events} events for {parameters} parameter{'s' if parameters > 1 else ''} "
        f"({events / parameters:.1f} per parameter; fewer than {MIN_EVENTS_PER_VARIABLE})"
    )
    return [warning("low_events_per_variable", message, model=model)]


def model_failed(model: str, *, terms: Sequence[str], reason: str) -> Warning:
    """`singular`: the model could not be fitted at all (its rows are not estimable)."""
    return warning("singular", f"cannot be fitted ({', '.join(terms)}): {reason}", model=model)


def covariate_dropped(variable: str, *, label: str, subgroup: str) -> Warning:
    """`covariate_dropped_in_subgroup`: the subgroup's own variable, constant inside it, is not a
    covariate there. `label`: the variable's ("Diabetes mellitus"); `subgroup`: the panel's
    ("Diabetes mellitus: yes")."""
    message = f"{label} is left out of the adjusted models' covariates in the subgroup {subgroup} (constant there)"
    return warning("covariate_dropped_in_subgroup", message, term=variable)


# Reading ---------------------------------------------------------------------------------------


def for_row(row: Mapping[str, Any], warnings: Iterable[Warning] | None = None) -> list[Warning]:
    """The warnings that concern a hazard ratio row: of its model, for its term or the whole model.
    Without `warnings`, the row's own copy (rows carry theirs under "warnings")."""
    if warnings is None:
        return list(row.get("warnings") or [])
    model = row.get("model")
    if model is None:
        return []
    return [w for w in warnings if w["model"] == model and w["term"] in (None, row["term"])]


def blocks_estimate(w: Warning) -> bool:
    """Whether this warning leaves its row without a number."""
    if w["code"] == "singular":
        return True
    return w["code"] in NOT_ESTIMABLE and w["term"] is not None


def estimable(row: Mapping[str, Any]) -> bool:
    """Whether the row's HR can be shown as a number. Rows of results stored before issue 13 have
    no "estimable": then a finite HR and CI not flagged "possibly_infinite"."""
    if "estimable" in row:
        return bool(row["estimable"])
    numbers = (row.get("hr"), row.get("ci_lower"), row.get("ci_upper"))
    return all(isinstance(v, int | float) and 0 < v < float("inf") for v in numbers) and not row.get("possibly_infinite")


def not_estimable_text(row: Mapping[str, Any], warnings: Iterable[Warning] | None = None) -> str:
    """What the page and the tables show instead of the HR: "not estimable (no events in ICS t1)"."""
    reasons = []
    for w in for_row(row, warnings):
        if blocks_estimate(w):
            reason = _REASONS.get(w["code"]) or w["message"]
            if reason not in reasons:
                reasons.append(reason)
    if not reasons:  # numbers without a finite CI, from a model that warned as a whole
        reasons = [w["message"] for w in for_row(row, warnings) if w["code"] in _MODEL_REASONS and w["term"] is None]
    if not reasons and row.get("possibly_infinite"):
        reasons.append(_REASONS["coefficient_may_be_infinite"])
    # With no events in a group, "coefficient may be infinite" says the same thing less clearly.
    if any(r.startswith("no events") for r in reasons):
        reasons = [r for r in reasons if r.startswith("no events")]
    return f"not estimable ({'; '.join(reasons)})" if reasons else "not estimable"


_REASONS = {
    "coefficient_may_be_infinite": "coefficient may be infinite",
    "collinear": "constant or collinear in these data",
    "singular": "the model cannot be fitted",
}  # no_events_in_group: its message, "no events in <group>"
_MODEL_REASONS = ("not_converged", "coefficient_may_be_infinite")


def forest_level_text(level: Mapping[str, Any]) -> str | None:
    """A subgroup-forest level (analytics.subgroups): None when its HR can be shown, else why not,
    as the forest plot and the tables write it: "not estimable (no events)"."""
    if level.get("hr") is not None and level.get("estimable"):
        return None
    note = str(level.get("note") or "")
    if note.startswith("not estimable"):
        return note
    return f"not estimable ({note})" if note else "not estimable"


def describe(w: Warning) -> str:
    """One line for lists and markers: "Cox, univariable, ICS groups, ICS tertile 2: no events in
    ICS tertile 1 (< 61)"; the term by its `label` where the result was labelled
    (analytics.dictionary.label_result), else by its name."""
    where = [str(part) for part in (MODELS.get(w["model"], w["model"]), w.get("label") or w["term"]) if part]
    return f"{', '.join(where)}: {w['message']}" if where else str(w["message"])


# Table cells ------------------------------------------------------------------------------------


class Marked(str):
    """A table cell's text with the warnings that concern it (`warnings`: one line each); the
    result page shows a marker with them next to the text (templates/analytics/_table.html). In
    CSV and XLSX files it is the text alone."""

    warnings: tuple[str, ...] = ()


def hr_cell(row: Mapping[str, Any], number: str) -> str:
    """A hazard ratio cell: `number` (the HR as the table writes it) when estimable, else "not
    estimable (...)"; marked with the row's warnings."""
    return marked(number if estimable(row) else not_estimable_text(row), row)


def p_cell(row: Mapping[str, Any], number: str) -> str:
    """A p-value cell: `number`, or "" where the HR is not estimable (R's p of an infinite
    coefficient means nothing)."""
    return number if estimable(row) else ""


def marked(text: str, row: Mapping[str, Any]) -> str:
    """`text` carrying the row's warnings (plain `text` when it has none)."""
    lines = tuple(describe(w) for w in for_row(row))
    if not lines:
        return text
    cell = Marked(text)
    cell.warnings = lines
    return cell
