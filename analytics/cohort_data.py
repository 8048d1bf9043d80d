"""The analysis data set as a DataFrame: typed columns, derived variables, cohort filters and
ICS grouping. Pure pandas over the rows of registry.selectors.analysis_rows() (one row per
patient, the columns of analysis_columns()); no Django.
"""

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

# The names live in analytics.variables (plain Python, for the forms and the API); used here by these names.
from analytics.variables import BOOLEAN_COLUMNS as BOOLEAN_COLUMNS
from analytics.variables import CATEGORICAL_COLUMNS as CATEGORICAL_COLUMNS
from analytics.variables import DATE_COLUMNS as DATE_COLUMNS
from analytics.variables import DERIVED_INDICATORS
from analytics.variables import ENDPOINTS as ENDPOINTS
from analytics.variables import FILTER_OPS as FILTER_OPS
from analytics.variables import NUMERIC_COLUMNS as NUMERIC_COLUMNS
from analytics.variables import SpecError as SpecError
from registry import follow_up

FATAL_ENDPOINTS = follow_up.FATAL_ENDPOINTS


def _derived(column: str, level: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: _indicator(df[column], level)


# Derived 0/1 variables used by Table 1 / Table 2 / Cox covariates.
DERIVED: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    name: _derived(column, level) for name, (column, level) in DERIVED_INDICATORS.items()
}

MAX_FILTERS = 200  # the builder makes at most ~30; more is not a cohort but a load test
ICS_RANGE = (0.0, 1000.0)
ICS_CUTOFFS = ("median", "tertiles", "quartiles")


def finite_number(value: object) -> float | None:
    """`value` as a float when it is a finite number (not a boolean), else None. JSON integers
    may be too large for a float (10**400): that is None too, not an OverflowError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def shown(value: object) -> str:
    """A client's value for an error message: its repr, shortened when long (a 400-digit number)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


# The per-element rules for raw values, and their vectorised versions (the same values, dtypes,
# index and name as `Series.map(rule)`; the rule itself runs only on the few NA-like elements).


def _none_or_nan(v: object) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _indicator_rule(level: str) -> Callable[[object], float]:
    return lambda v: np.nan if v is None or v == "" or (isinstance(v, float) and np.isnan(v)) else float(v == level)


def _float_rule(v: Any) -> float:  # a raw cell: None, "", a number, a boolean or text
    return np.nan if v is None or v == "" else float(v)


def _category_rule(v: object) -> str:
    return "" if _none_or_nan(v) else str(v)


def _where_flagged(values: np.ndarray, rule: Callable[[Any], bool]) -> np.ndarray:
    """Boolean mask of `rule(v)` for a rule that can only hold where pd.isna(v) (None, NaN, NaT,
    pd.NA): pd.isna finds those candidates at C speed, `rule` decides them one by one."""
    if _all_text(values):
        return np.zeros(len(values), dtype=bool)
    mask: np.ndarray = pd.isna(values)
    candidates = np.flatnonzero(mask)
    if len(candidates):
        mask[candidates] = [bool(rule(v)) for v in values[candidates]]
    return mask


def _all_text(values: np.ndarray) -> bool:
    kind: str = pd.api.types.infer_dtype(values, skipna=False)
    return kind == "string"  # every element a str


def _indicator(values: pd.Series, level: str) -> pd.Series:
    """1.0 where the value is `level`, 0.0 where it is another value, NaN where missing (None, "", NaN)."""
    if not len(values):
        return values.map(_indicator_rule(level))
    arr = values.to_numpy(dtype=object)
    missing = _where_flagged(arr, _none_or_nan) | (arr == "")
    out = np.where(missing, np.nan, np.equal(arr, level).astype(float))
    return pd.Series(out, index=values.index, name=values.name)


def _to_float(values: pd.Series) -> pd.Series:
    """Booleans (True/False/None, or 1/0/NaN from CSV) and numbers to float; missing -> NaN; other
    text a ValueError (float(v))."""
    if not len(values):
        return pd.to_numeric(values.map(_float_rule), errors="coerce")
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return values.astype(float)  # float(v) of every element: no None or "" in these dtypes
    arr = values.to_numpy(dtype=object)
    try:
        # numpy casts an object with float(v), None to NaN; "" raises, and takes the way below.
        out = arr.astype(float)
    except (TypeError, ValueError):
        missing = _where_flagged(arr, lambda v: v is None) | (arr == "")
        out = np.full(len(arr), np.nan)
        out[~missing] = arr[~missing].astype(float)
    return pd.Series(out, index=values.index, name=values.name)


def _category(values: pd.Series) -> pd.Series:
    """Categories as text, "" for missing (None, NaN)."""
    if not len(values):
        return values.map(_category_rule)
    arr = values.to_numpy(dtype=object, copy=True)
    if not _all_text(arr):
        missing = _where_flagged(arr, _none_or_nan)
        arr[~missing] = [str(v) for v in arr[~missing]]
        arr[missing] = ""
    return pd.Series(arr, index=values.index, name=values.name)


def analysis_frame(rows: list[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
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
            df[col] = _category(df[col])
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


def apply_filters(df: pd.DataFrame, filters: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows matching every filter `{"field", "op", "value"}`; SpecError for unknown fields or ops
    and for values of the wrong shape or type (the message names the field and the problem)."""
    if not isinstance(filters, list):
        raise SpecError(f"cohort filters must be a list of {{field, op, value}} objects, got {shown(filters)}")
    if len(filters) > MAX_FILTERS:
        raise SpecError(f"a cohort has at most {MAX_FILTERS} filters, got {len(filters)}")
    mask = pd.Series(True, index=df.index)
    for f in filters:
        mask &= _filter_mask(df, f)
    return df[mask]


def _filter_mask(df: pd.DataFrame, f: dict[str, Any]) -> pd.Series:
    if not isinstance(f, dict) or set(f) - {"field", "op", "value"} or "field" not in f or "op" not in f:
        raise SpecError(f"a filter is an object with field, op and value: {shown(f)}")
    value: Any  # a JSON value from the client, checked below
    field, op, value = f["field"], f["op"], f.get("value")
    if not isinstance(field, str) or field not in filterable_fields(df):
        raise SpecError(f"unknown filter field {shown(field)}")
    if not isinstance(op, str) or op not in FILTER_OPS:
        raise SpecError(f"unknown filter op {shown(op)}; one of {', '.join(FILTER_OPS)}")
    col = df[field]
    missing = col.isna() | (col == "")
    if op == "is_missing":
        if value not in (None, True, False) or isinstance(value, (int, float)) and not isinstance(value, bool):
            raise SpecError(f"{field} is_missing takes true or false, got {shown(value)}")
        return missing if value in (None, True) else ~missing
    _check_value_shape(field, op, value)
    if field in DATE_COLUMNS:
        col = pd.to_datetime(col, errors="coerce")
        value = _date_value(field, op, value)
    elif pd.api.types.is_float_dtype(col):
        value = _numeric_value(field, op, value)
    try:
        result = {
            "eq": lambda: col == value,
            "ne": lambda: col != value,
            "lt": lambda: col < value,
            "le": lambda: col <= value,
            "gt": lambda: col > value,
            "ge": lambda: col >= value,
            "in": lambda: col.isin(list(value)),
            "between": lambda: (col >= value[0]) & (col <= value[1]),
        }[op]()
    except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        raise SpecError(f"bad value {shown(value)} for {field} {op}: {exc}") from None
    return result & ~missing


def _check_value_shape(field: str, op: str, value: Any) -> None:
    """`in` takes a list, `between` a list of two, the other ops one value; values are plain
    (text, number, true/false), never lists or objects."""
    values = value if op in ("in", "between") else [value]
    if op == "in" and not isinstance(value, list):
        raise SpecError(f"{field} in needs a list of values, got {shown(value)}")
    if op == "between" and not (isinstance(value, list) and len(value) == 2):
        raise SpecError(f"{field} between needs two values [low, high], got {shown(value)}")
    if any(isinstance(v, (list, dict)) for v in values):
        raise SpecError(f"{field} {op} needs plain values (text, numbers, true/false), got {shown(value)}")


def _numeric_value(field: str, op: str, value: Any) -> float | list[float] | tuple[float, ...]:
    numbers = [_number(field, op, v) for v in (value if op in ("in", "between") else [value])]
    if op == "in":
        return numbers
    return tuple(numbers) if op == "between" else numbers[0]


def _number(field: str, op: str, value: object) -> float:
    """A finite number; true/false (flags are 1/0) and numbers written as text count too."""
    if isinstance(value, bool):
        return float(value)
    number = finite_number(value)
    if number is None and isinstance(value, str):
        try:
            number = finite_number(float(value))
        except ValueError:
            number = None
    if number is None:
        raise SpecError(f"{field} {op} needs a number (or true/false), got {shown(value)}")
    return number


def _date_value(field: str, op: str, value: Any) -> pd.Timestamp | list[pd.Timestamp]:
    dates: list[pd.Timestamp] = []
    for v in value if op in ("in", "between") else [value]:
        if not isinstance(v, str):
            raise SpecError(f"bad filter value for {field} {op}: a date is text YYYY-MM-DD, got {shown(v)}")
        try:
            dates.append(pd.to_datetime(v))
        except (ValueError, OverflowError) as exc:
            raise SpecError(f"bad filter value for {field} {op}: {shown(v)} is not a date YYYY-MM-DD ({exc})") from None
    return dates if op in ("in", "between") else dates[0]


def ics_groups(ics: pd.Series, cutoff: object) -> tuple[pd.Series, list[str], list[float]]:
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
    else:
        cuts, keys = [_cutoff_number(cutoff)], ["low", "high"]
    idx = np.searchsorted(np.asarray(cuts), values.to_numpy(), side="right")
    labels = pd.Series(np.asarray(keys, dtype=object)[np.minimum(idx, len(keys) - 1)], index=ics.index)
    labels[values.isna()] = np.nan
    return labels, keys, cuts


def check_cutoff(cutoff: object) -> float | str:
    """An ICS cut-off as given: "median", "tertiles", "quartiles" (None = "median"), or a number
    in the ICS range 0-1000 (as a float); SpecError otherwise."""
    if cutoff is None or (isinstance(cutoff, str) and cutoff in ICS_CUTOFFS):
        return cutoff or "median"
    return _cutoff_number(cutoff)


def _cutoff_number(cutoff: object) -> float:
    number = finite_number(cutoff)
    if number is None or not ICS_RANGE[0] <= number <= ICS_RANGE[1]:
        raise SpecError(f"unknown ICS cut-off {shown(cutoff)}; a number from 0 to 1000, 'median', 'tertiles' or 'quartiles'")
    return number


def censor_at_horizon(df: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
    """Administrative censoring at `horizon_days` (only shortens the horizon the rows were derived with)."""
    df = df.copy()
    for name in ENDPOINTS:
        days, status = f"{name}_days", f"{name}_status"
        if days in df:
            late = df[days] > horizon_days
            if df[days].dtype == np.float64 and df[status].dtype == np.int64:  # analysis_frame's dtypes
                late = late.to_numpy()
                df[status] = np.where(late, follow_up.CENSORED, df[status].to_numpy())
                df[days] = np.where(late, float(horizon_days), df[days].to_numpy())
            else:
                df.loc[late, status] = follow_up.CENSORED
                df.loc[late, days] = float(horizon_days)
    return df
