"""Table 1 and Table 2 against R (t.test, wilcox.test, shapiro.test, chisq.test, fisher.test, lm)."""

from scipy import stats

from analytics import tables
from tests.analytics.conftest import assert_close


def test_continuous_rows_match_r(cohort):
    rows = {r["variable"]: r for r in tables.baseline_table(cohort.df, group_col="group", keys=cohort.keys)}
    for variable in tables.CONTINUOUS:
        row, ref = rows[variable], cohort.r["table1"][variable]
        assert row["overall"]["n"] == ref["overall"]["n"]
        for key in cohort.keys:
            for stat in ("mean", "sd", "median", "q1", "q3"):
                assert_close(row["by_group"][key][stat], ref["by_group"][key][stat])
            # scipy's Shapiro-Wilk is the same AS R94 algorithm, with some constants in single
            # precision: it agrees with R to ~5e-8 relative, hence 1e-6 still holds.
            assert_close(row["by_group"][key]["shapiro_p"], ref["by_group"][key]["shapiro_p"])
        expected_p = ref["t_p"] if row["test"] == "t-test" else ref["wilcox_p"]
        assert_close(row["p"], expected_p)
        x = cohort.df[variable]
        high, low = (x[(cohort.df["group"] == k) & x.notna()] for k in ("high", "low"))
        assert_close(stats.ttest_ind(high, low).pvalue, ref["t_p"])
        assert_close(stats.mannwhitneyu(high, low, use_continuity=True, method="asymptotic").pvalue, ref["wilcox_p"])


def test_categorical_rows_match_r(cohort):
    rows = {r["variable"]: r for r in tables.baseline_table(cohort.df, group_col="group", keys=cohort.keys)}
    for variable in tables.CATEGORICAL:
        row, ref = rows[variable], cohort.r["table1"][variable]
        assert row["overall"]["denominator"] == ref["n"]  # missing values left out of the denominator
        # R orders text levels by locale collation, pandas by code point: compare by level.
        ref_levels = [str(v) for v in ref["levels"]]
        ours = [str(int(v)) if isinstance(v, bool) else str(v) for v in row["levels"]]
        for key in cohort.keys:
            assert dict(zip(ours, row["by_group"][key]["n"], strict=True)) == dict(
                zip(ref_levels, ref["counts"][key], strict=True)
            )
        if "chisq_p" not in ref:
            assert row["p"] is None
        elif row["test"] == "fisher":
            assert len(ref["levels"]) == 2 and ref["min_expected"] < 5
            assert_close(row["p"], ref["fisher_p"])
        else:
            assert_close(row["statistic"], ref["chisq"])
            assert_close(row["p"], ref["chisq_p"])


def test_sqrt_ics_regression_matches_lm(cohort):
    result = tables.sqrt_ics_regression(cohort.df)
    ref = cohort.r["table2"]
    assert result["selected"] == list(ref["selected"])
    assert [r["term"] for r in result["univariable"]] == list(ref["univariable"])
    for part in ("univariable", "multivariable"):
        for row in result[part]:
            for key in ("beta", "se", "ci_lower", "ci_upper", "p"):
                assert_close(row[key], ref[part][row["term"]][key])
