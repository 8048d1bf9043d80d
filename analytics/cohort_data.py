"""The analysis data set as a DataFrame: typed columns, derived variables, cohort filters and
ICS grouping. Pure pandas over the rows of registry.selectors.analysis_rows() (one row per
patient, the columns of analysis_columns()); no Django.
"""

import numpy as np
import pandas as pd

from registry import follow_up

BASELINE_FLAGS = ("hypertension", "hypercholesterolemia", "statin", "diabetes", "family_history", "smoking",
                  "prior_mi", "prior_pci", "prior_cabg", "prior_stroke", "prior_pad")
BOOLEAN_COLUMNS = (*BASELINE_FLAGS, "renal_impairment", "acs", "vessel_revascularized")
NUMERIC_COLUMNS = ("age_at_index", "egfr", "ics", "follow_up_days")
CATEGORICAL_COLUMNS = ("site", "sex", "presentation", "index_treatment", "study_vessel", "ics_source")
DATE_COLUMNS = ("index_date", "last_contact_date")
ENDPOINTS = tuple(follow_up.ENDPOINTS)
FATAL_ENDPOINTS = follow_up.FATAL_ENDPOINTS
# Derived 0/1 variables used by Table 1 / Table 2 / Cox covariates.
DERIVED = {
    "male": lambda df: _indicator(df["sex"], "M"),
    "study_vessel_lad": lambda df: _indicator(df["study_vessel"], "LAD"),
}

FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "between", "is_missing")


class SpecError(ValueError):
    """An analysis spec that cannot be run: unknown field, op, endpoint, covariate or cut-off."""


def _indicator(values: pd.Series, level: str) -> pd.Series:
    return values.map(lambda v: np.nan if v is None or v == "" or (isinstance(v, float) and np.isnan(v)) else float(v == level))


def _to_float(values: pd.Series) -> pd.Series:
    """Booleans (True/False/None, or 1/0/NaN from CSV) and numbers to float; missing -> NaN."""
    return pd.to_numeric(values.map(lambda v: np.nan if v is None or v == "" else float(v)), errors="coerce")


def analysis_frame(rows) -> pd.DataFrame:
    """Typed analysis DataFrame from analysis rows (list of dicts) or a DataFrame of them.

    Booleans and numbers become float (NaN = missing, never "no"), categories stay strings with
    "" for missing, and the derived indicators in DERIVED are added.
    """
    df = pd.DataFrame(rows).copy()
    for col in (*BOOLEAN_COLUMNS, *NUMERIC_COLUMNS):
        if col in df:
            df[col] = _to_float(df[col])
    for col in CATEGORICAL_COLUMNS:
        if col in df:
            df[col] = df[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    for name in ENDPOINTS:
        if f"{name}_days" in df:
            df[f"{name}_days"] = df[f"{name}_days"].astype(float)
            df[f"{name}_status"] = df[f"{name}_status"].astype(int)
    for name, derive in DERIVED.items():
        if all(c in df for c in ("sex", "study_vessel")):
            df[name] = derive(df)
    return df


def filterable_fields(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c != "study_id"]


def apply_filters(df: pd.DataFrame, filters: list[dict]) -> pd.DataFrame:
    """Rows matching every filter `{"field", "op", "value"}`; SpecError for unknown fields or ops."""
    mask = pd.Series(True, index=df.index)
    for f in filters:
        mask &= _filter_mask(df, f)
    return df[mask]


def _filter_mask(df: pd.DataFrame, f: dict) -> pd.Series:
    if not isinstance(f, dict) or set(f) - {"field", "op", "value"} or "field" not in f or "op" not in f:
        raise SpecError(f"a filter is an object with field, op and value: {f!r}")
    field, op, value = f["field"], f["op"], f.get("value")
    if field not in filterable_fields(df):
        raise SpecError(f"unknown filter field {field!r}")
    if op not in FILTER_OPS:
        raise SpecError(f"unknown filter op {op!r}; one of {', '.join(FILTER_OPS)}")
    col = df[field]
    missing = col.isna() | (col == "")
    if op == "is_missing":
        return missing if value in (None, True) else ~missing
    if field in DATE_COLUMNS:
        col = pd.to_datetime(col, errors="coerce")
        value = pd.to_datetime(value) if op not in ("in", "between") else [pd.to_datetime(v) for v in value]
    elif pd.api.types.is_float_dtype(col):
        value = _numeric_value(field, op, value)
    try:
        result = {
            "eq": lambda: col == value, "ne": lambda: col != value, "lt": lambda: col < value,
            "le": lambda: col <= value, "gt": lambda: col > value, "ge": lambda: col >= value,
            "in": lambda: col.isin(list(value)),
            "between": lambda: (col >= value[0]) & (col <= value[1]),
        }[op]()
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise SpecError(f"bad value {value!r} for {field} {op}: {exc}") from None
    return result & ~missing


def _numeric_value(field, op, value):
    try:
        if op == "in":
            return [float(v) for v in value]
        if op == "between":
            low, high = value
            return float(low), float(high)
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{field} {op} needs a number (or true/false), got {value!r}") from None


def ics_groups(ics: pd.Series, cutoff) -> tuple[pd.Series, list[str], list[float]]:
    """Group labels by ICS: ICS >= cut-off is the upper group.

    `cutoff`: "median" (cohort median, the default), a number, "tertiles" or "quartiles" (R type 7
    quantiles). Two groups are keyed "low"/"high"; tertiles t1..t3, quartiles q1..q4.
    Returns (labels, keys in order, cut values); patients without ICS get NaN.
    """
    values = ics.astype(float)
    present = values.dropna()
    if present.empty:
        raise SpecError("no patient in the cohort has an ICS")
    if cutoff in (None, "median"):
        cuts, keys = [float(np.median(present))], ["low", "high"]
    elif cutoff in ("tertiles", "quartiles"):
        k = 3 if cutoff == "tertiles" else 4
        cuts = [float(q) for q in np.quantile(present, np.arange(1, k) / k)]  # numpy's default = R type 7
        keys = [f"{cutoff[0]}{i}" for i in range(1, k + 1)]
    elif isinstance(cutoff, (int, float)) and not isinstance(cutoff, bool):
        cuts, keys = [float(cutoff)], ["low", "high"]
    else:
        raise SpecError(f"unknown ICS cut-off {cutoff!r}; a number, 'median', 'tertiles' or 'quartiles'")
    idx = np.searchsorted(np.asarray(cuts), values.to_numpy(), side="right")
    labels = pd.Series(np.asarray(keys, dtype=object)[np.minimum(idx, len(keys) - 1)], index=ics.index)
    labels[values.isna()] = np.nan
    return labels, keys, cuts


def censor_at_horizon(df: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """Administrative censoring at `horizon_days` (only shortens the horizon the rows were derived with)."""
    df = df.copy()
    for name in ENDPOINTS:
        days, status = f"{name}_days", f"{name}_status"
        if days in df:
            late = df[days] > horizon_days
            df.loc[late, status] = follow_up.CENSORED
            df.loc[late, days] = float(horizon_days)
    return df
