"""Validation rules: each names the field and the rule."""

from datetime import date

from registry.csv_io import ICS_SOURCE_LABELS, ICS_SOURCES
from registry.models import IcsSource
from registry.rules import (
    Problem,
    event_problems,
    follow_up_date_problems,
    ics_source_problems,
    identifier_problems,
    patient_problems,
    spreadsheet_text_problems,
)

TODAY = date(2026, 11, 27)
INDEX = date(2015, 3, 2)


def test_patient_ranges_name_the_field_the_rule_and_the_value():
    problems = patient_problems(age_at_index=17, egfr=200.5, index_date=INDEX, today=TODAY, ics=1200)
    assert problems == [
        Problem("age_at_index", "must be between 18 and 110 years (got 17)"),
        Problem("egfr", "must be between 0 and 200 ml/min (got 200.5)"),
        Problem("ics", "must be between 0 and 1000 (got 1200)"),
    ]


def test_patient_limits_are_inclusive_and_missing_is_allowed():
    assert patient_problems(age_at_index=18, egfr=0, index_date=INDEX, today=TODAY) == []
    assert patient_problems(age_at_index=110, egfr=200, index_date=INDEX, today=TODAY, ics=1000) == []
    assert patient_problems(age_at_index=None, egfr=None, index_date=INDEX, today=TODAY) == []


def test_index_date_required_and_not_in_future():
    assert patient_problems(age_at_index=None, egfr=None, index_date=None, today=TODAY) == [
        Problem("index_date", "is required (time zero of follow-up)")
    ]
    assert patient_problems(age_at_index=None, egfr=None, index_date=date(2026, 11, 28), today=TODAY) == [
        Problem("index_date", "2026-11-28 is in the future (today is 2026-11-27)")
    ]


def test_date_of_birth_must_precede_index():
    problems = patient_problems(age_at_index=None, egfr=None, index_date=INDEX, today=TODAY, date_of_birth=INDEX)
    assert problems == [Problem("date_of_birth", "must be before the index date")]


def test_follow_up_dates_before_index_future_and_after_death():
    assert follow_up_date_problems(
        field="contact_date", value=date(2015, 3, 1), index_date=INDEX, today=TODAY, death_date=None
    ) == [Problem("contact_date", "2015-03-01 is before the index date 2015-03-02")]
    assert follow_up_date_problems(
        field="contact_date", value=date(2027, 1, 1), index_date=INDEX, today=TODAY, death_date=None
    ) == [Problem("contact_date", "2027-01-01 is in the future (today is 2026-11-27)")]
    assert follow_up_date_problems(
        field="event_date", value=date(2020, 1, 2), index_date=INDEX, today=TODAY, death_date=date(2020, 1, 1)
    ) == [Problem("event_date", "2020-01-02 is after the patient's death on 2020-01-01")]
    assert follow_up_date_problems(field="event_date", value=INDEX, index_date=INDEX, today=TODAY, death_date=INDEX) == []


def _event(**kw):
    base = dict(
        event_type="mi",
        event_date=date(2016, 1, 1),
        target_vessel=None,
        index_date=INDEX,
        today=TODAY,
        death_date=None,
        other_death_date=None,
        latest_other_date=None,
    )
    return event_problems(**{**base, **kw})


def test_target_vessel_only_on_mi_and_revascularization():
    assert _event(event_type="mi", target_vessel=True) == []
    assert _event(event_type="revascularization", target_vessel=False) == []
    assert _event(event_type="stroke", target_vessel=False) == [
        Problem("target_vessel", "applies only to MI and revascularization, not to stroke")
    ]
    assert _event(event_type="death", target_vessel=True)[0].field == "target_vessel"


def test_one_death_at_most_and_nothing_before_it_may_follow():
    assert _event(event_type="death", other_death_date=date(2017, 1, 1)) == [
        Problem("event_type", "the patient already has a death on 2017-01-01: one death at most")
    ]
    assert _event(event_type="death", latest_other_date=date(2016, 6, 1)) == [
        Problem(
            "event_date",
            "death on 2016-01-01 is before the patient's follow-up record on 2016-06-01: nothing may follow death",
        )
    ]
    assert _event(event_type="death", latest_other_date=date(2016, 1, 1)) == []


def test_revascularization_method_only_on_revascularization():
    assert _event(event_type="mi", revascularization_method="PCI") == [
        Problem("revascularization_method", "applies only to revascularization, not to mi")
    ]


IDENTIFIER_RULE = (
    "may contain only letters A-Z, digits 0-9, hyphens (-), underscores (_) and full stops (.), "
    "and must start with a letter or digit"
)


def test_study_ids_and_site_codes_are_plain_identifiers():
    assert identifier_problems("study_id", "DEMO-00010") == []
    assert identifier_problems("study_id", "ics_2019.0001") == []
    assert identifier_problems("site", "") == []  # "required" is another rule
    assert identifier_problems("study_id", "=cmd|' /C calc'!A0") == [
        Problem("study_id", f'A study ID {IDENTIFIER_RULE} (it starts with "=")')
    ]
    assert identifier_problems("site", "+SUM(1+1)") == [
        Problem("site", f'A site code {IDENTIFIER_RULE} (it starts with "+")')
    ]
    assert identifier_problems("study_id", "\tICS") == [
        Problem("study_id", f"A study ID {IDENTIFIER_RULE} (it starts with a tab)")
    ]
    assert identifier_problems("study_id", "_ICS") == [
        Problem("study_id", f'A study ID {IDENTIFIER_RULE} (it starts with "_")')
    ]
    assert identifier_problems("study_id", "ICS/1") == [
        Problem("study_id", f'A study ID {IDENTIFIER_RULE} (it contains "/")')
    ]
    assert identifier_problems("study_id", "ICSé") == [
        Problem("study_id", f'A study ID {IDENTIFIER_RULE} (it contains "é")')
    ]


def test_text_for_exports_must_not_start_like_a_formula():
    rule = "must not start with =, +, -, @, a tab or a line break, which spreadsheets read as the start of a formula"
    assert spreadsheet_text_problems("ics_source", "core lab = reader B") == []
    assert spreadsheet_text_problems("ics_source", "") == []
    assert [spreadsheet_text_problems("ics_source", text) for text in ("=1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1")] == [
        [Problem("ics_source", f"{rule} (it starts with {shown})")]
        for shown in ('"="', '"+"', '"-"', '"@"', "a tab", "a line break")
    ]


def test_patient_rules_check_the_study_id_and_the_ics_source():
    problems = patient_problems(
        age_at_index=None, egfr=None, index_date=INDEX, today=TODAY, study_id="@A1", ics_source="=A1"
    )
    assert [p.field for p in problems] == ["study_id", "ics_imported_source"]
    assert (
        patient_problems(
            age_at_index=None, egfr=None, index_date=INDEX, today=TODAY, study_id="ICS-0001", ics_source="study core lab"
        )
        == []
    )


def test_the_ics_source_is_one_of_the_list_and_matches_the_model():
    assert (ICS_SOURCES, ICS_SOURCE_LABELS) == (tuple(IcsSource.values), tuple(IcsSource.labels))
    assert [ics_source_problems("ics_source", v) for v in ("", None, "study core lab", "other source")] == [[]] * 4
    assert ics_source_problems("ics_source", "Dr Jansen") == [
        Problem(
            "ics_source",
            "must be one of registry import, study core lab, earlier scoring software, synthetic, "
            "other source (got Dr Jansen)",
        )
    ]
