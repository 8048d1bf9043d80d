"""`manage.py run_analysis SPEC.json --out RESULT.json`: the same service and numbers as the API."""

import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analytics import dictionary
from analytics.analysis import run_analysis
from analytics.models import AnalysisRun
from registry.selectors import analysis_rows
from tests.analytics.registry_cohort import registry_cohort
from tests.conftest import client_for


@pytest.mark.django_db
def test_it_writes_the_result_and_prints_a_summary(tmp_path, capsys, investigator):
    registry_cohort(150, seed=5)
    spec = {"endpoint": "poce", "grouping": {"variable": "ics", "cutoff": 85}, "horizon_days": 1826}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    call_command("run_analysis", str(tmp_path / "spec.json"), "--out", str(tmp_path / "result.json"))
    result = json.loads((tmp_path / "result.json").read_text())
    rows = pd.DataFrame(analysis_rows(user=investigator, horizon_days=1826))
    assert result == json.loads(json.dumps(dictionary.label_result(run_analysis(rows, spec))))
    out = capsys.readouterr().out
    assert f"{result['n']} patients" in out and "log-rank p" in out and "HR ics_high" in out
    run = AnalysisRun.objects.get()
    assert run.created_by is None and run.status == "succeeded" and dictionary.label_result(run.result) == result


@pytest.mark.django_db
def test_a_bad_spec_is_a_command_error(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"endpoint": "happiness"}))
    with pytest.raises(CommandError, match="unknown endpoint"):
        call_command("run_analysis", str(tmp_path / "spec.json"))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(CommandError, match="cannot read the spec"):
        call_command("run_analysis", str(tmp_path / "broken.json"))


@pytest.mark.django_db
def test_the_result_carries_the_labels_of_a_run_made_through_the_web(tmp_path, capsys, investigator):
    registry_cohort(150, seed=5)
    spec = {
        "endpoint": "poce",
        "grouping": {"variable": "ics", "cutoff": "tertiles"},
        "subgroup": "diabetes",
        "spline": {"df": 3},
        "rmst": {},
        "subgroup_forest": ["vessel_revascularized"],
    }
    web = client_for(investigator).post("/api/analyses/", spec, content_type="application/json")
    assert web.status_code == 201, web.content
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    call_command("run_analysis", str(tmp_path / "spec.json"), "--out", str(tmp_path / "result.json"))
    result = json.loads((tmp_path / "result.json").read_text())

    assert result == web.json()["result"]
    assert result["title"] == dictionary.spec_summary(AnalysisRun.objects.get(pk=web.json()["id"]).spec)
    assert result["endpoint_label"] == "POCE"
    cuts = result["cutoffs_display"]
    assert [g["label"] for g in result["groups"]] == [
        f"ICS tertile 1 (< {cuts[0]})",
        *[g["label"] for g in result["groups"][1:]],
    ]
    assert [g["label"] for g in result["rmst"]["groups"]] == [g["label"] for g in result["groups"]]
    assert result["subgroup_forest"]["variables"][0]["label"] == "Study vessel revascularized at index"
    assert result["subgroups"][0]["label"] == "Diabetes mellitus: yes"
    out = capsys.readouterr().out
    assert f"ICS tertile 1 (< {cuts[0]}): " in out  # the summary names the groups as the result does
