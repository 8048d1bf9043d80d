"""The names an analysis spec may use (columns by kind, endpoints, filter ops, Table 1/2 variables,
default covariates, subgroup variables) and SpecError, listed once for the statistics and for
the forms and API serializers that offer them. Plain Python: the URLconf imports the forms and
serializers, and must not wait for pandas and scipy (tests/test_startup_imports.py)."""

from registry import follow_up
from registry.variables import BASELINE_FLAGS


class SpecError(ValueError):
    """An analysis spec that cannot be run: unknown field, op, endpoint, covariate or cut-off."""


# The analysis rows' columns by kind (registry.selectors.analysis_columns).
BOOLEAN_COLUMNS = (*BASELINE_FLAGS, "renal_impairment", "acs", "vessel_revascularized")
NUMERIC_COLUMNS = ("age_at_index", "egfr", "ics", "follow_up_days")
CATEGORICAL_COLUMNS = ("site", "sex", "presentation", "index_treatment", "study_vessel", "ics_source")
DATE_COLUMNS = ("index_date", "last_contact_date")
ENDPOINTS = tuple(follow_up.ENDPOINTS)
# Derived 0/1 variables used by Table 1 / Table 2 / Cox covariates: name -> (column, the level that is 1).
DERIVED_INDICATORS = {"male": ("sex", "M"), "study_vessel_lad": ("study_vessel", "LAD")}

FILTER_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "between", "is_missing")

# Table 1 (continuous and categorical rows) and Table 2 (sqrt(ICS) regression), in the study's order.
CONTINUOUS = ("age_at_index", "egfr")
CATEGORICAL = (
    "male",
    *BASELINE_FLAGS,
    "renal_impairment",
    "acs",
    "vessel_revascularized",
    "index_treatment",
    "study_vessel",
)
TABLE2_VARIABLES = (
    "male",
    "age_at_index",
    "hypertension",
    "hypercholesterolemia",
    "diabetes",
    "family_history",
    "smoking",
    "prior_mi",
    "prior_pci",
    "prior_cabg",
    "prior_stroke",
    "prior_pad",
    "egfr",
    "acs",
    "study_vessel_lad",
)

DEFAULT_COVARIATES = ["age_at_index", "acs", "egfr", "diabetes", "prior_cabg"]
DEFAULT_HORIZON_DAYS = follow_up.HORIZON_DAYS
# Variables a subgroup view may split on: yes/no flags and categories of the analysis rows.
SUBGROUP_VARIABLES = (*BOOLEAN_COLUMNS, *CATEGORICAL_COLUMNS, *DERIVED_INDICATORS)
