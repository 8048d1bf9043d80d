"""The clinician's view: calcium map and arc figures (pure), and what each role gets on the
patient and pullback pages (frame viewer only for roles that may see identifiers)."""

import json
import re

import numpy as np
import pytest

from scoring import charts
from tests.conftest import client_for
from tests.factories import assert_no_external_assets
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db


def test_the_heatmap_bins_long_pullbacks_and_keeps_the_angle_axis():
    labels = np.zeros((1300, 64), bool)
    labels[0:3, 16] = True  # 90 degrees, first bin (3 frames per column)
    labels[1299, 0] = True
    fractions, starts = charts.binned_map(labels)
    assert len(starts) == 434 and starts[1] == 3
    assert fractions[0, 16] == pytest.approx(1.0) and fractions[-1, 0] == pytest.approx(1.0)  # last bin: 1 frame
    figure = charts.calcium_map_figure(labels, frame_spacing_mm=0.5 / 30)
    trace = figure["data"][0]
    assert trace["type"] == "heatmap" and trace["zmax"] == 100
    assert figure["layout"]["xaxis"]["title"]["text"] == "Pullback position (mm)"
    assert "counter-clockwise" in figure["layout"]["yaxis"]["title"]["text"]


def test_the_arc_figure_is_degrees_along_the_pullback():
    figure = charts.arc_figure([0.0, 90.0, 360.0], frame_spacing_mm=0.5)
    trace = figure["data"][0]
    xs = trace["x"] if isinstance(trace["x"], list) else None
    assert trace["type"] == "scatter" and figure["layout"]["yaxis"]["range"] == [0, 360]
    if xs is not None:
        assert xs == [0.0, 0.5, 1.0]


def _figures(html: str) -> dict:
    match = re.search(r'<script id="pullback-figures" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1))


@pytest.mark.parametrize("persona, frames", [("clinician", True), ("coordinator", True), ("investigator", False)])
def test_the_patient_page_shows_the_study_pullback(request, patient, persona, frames):
    labels = np.zeros((100, 100), bool)
    labels[10:20, :25] = True
    pullback = make_pullback(patient, length_mm=50, labels=labels)
    client = client_for(request.getfixturevalue(persona))
    html = client.get(f"/patients/{patient.study_id}/").content.decode()
    assert "Study pullback" in html and f"Pullback #{pullback.pk}: 50.0 mm" in html
    # The figures are not in the page (it paints without them): the viewer fetches them when in sight.
    assert 'id="pullback-figures"' not in html and f'data-figures-url="/pullbacks/{pullback.pk}/figures.json"' in html
    figures = client.get(f"/pullbacks/{pullback.pk}/figures.json").json()
    assert figures["map"]["data"][0]["type"] == "heatmap" and figures["arc"]["data"][0]["type"] == "scatter"
    assert figures == _figures(client.get(f"/pullbacks/{pullback.pk}/").content.decode())  # the pullback's own page
    assert ('id="frame-slider"' in html) is frames and (f"/api/pullbacks/{pullback.pk}/frames/0.png" in html) is frames
    assert f'action="/api/pullbacks/{pullback.pk}/segment-ics/"' in html
    # plotly.js is not loaded with the patient page either: the viewer loads it with the figures.
    assert re.search(r'data-plotly-src="/static/vendor/plotly/plotly\.min(\.\w+)?\.js"', html)
    assert not re.search(r"<script[^>]+plotly", html)
    compressed = client.get(f"/pullbacks/{pullback.pk}/figures.json", HTTP_ACCEPT_ENCODING="gzip")
    assert compressed["Content-Encoding"] == "gzip" and "no-store" in compressed["Cache-Control"]
    assert_no_external_assets(html)


def test_without_a_study_pullback_there_is_no_view(patient, clinician):
    make_pullback(patient, length_mm=20, ics=5)
    html = client_for(clinician).get(f"/patients/{patient.study_id}/").content.decode()
    assert 'id="h-study-pullback"' not in html and 'id="patient-ics" class="muted">none yet<' in html
    assert "Not used: 20.0 mm, shorter than the 40 mm the study requires." in html
    assert "No ICS yet: upload a pullback of at least 40 mm, or import an ICS." in html


def test_the_figures_of_an_unscored_pullback_are_not_found(patient, clinician):
    pullback = make_pullback(patient, ics=None)
    response = client_for(clinician).get(f"/pullbacks/{pullback.pk}/figures.json")
    assert response.status_code == 404 and response.json() == {"detail": "This pullback has no score yet."}


def test_the_pullback_page_shows_progress_or_failure_with_retry(patient, coordinator, clinician):
    from scoring.models import ScoringRun

    pullback = make_pullback(patient, ics=None)
    ScoringRun.objects.create(
        pullback=pullback,
        model_name="default",
        status="failed",
        error="The pullback could not be scored: The file is truncated.",
    )
    html = client_for(coordinator).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert "The file is truncated." in html and "Retry scoring" in html
    assert "Retry scoring" not in client_for(clinician).get(f"/pullbacks/{pullback.pk}/").content.decode()
    ScoringRun.objects.update(status="running", progress_percent=35, error="")
    html = client_for(clinician).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert (
        'data-done="false"' in html and 'value="35"' in html and f'data-status-url="/api/pullbacks/{pullback.pk}/"' in html
    )


def test_a_run_a_worker_is_scoring_cannot_be_retried_until_its_worker_stops(patient, coordinator, settings):
    from datetime import timedelta

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from scoring import services
    from scoring.models import ScoringRun

    settings.JOB_STALE_AFTER_SECONDS = 120
    pullback = make_pullback(patient, ics=None)
    now = timezone.now()
    run = ScoringRun.objects.create(
        pullback=pullback, model_name="default", status="running", started_at=now, heartbeat_at=now, lease="w1"
    )
    client = client_for(coordinator)
    assert "Retry scoring" not in client.get(f"/pullbacks/{pullback.pk}/").content.decode()
    with pytest.raises(ValidationError, match="This run is being scored"):
        services.scoring_run_retry(user=coordinator, run=run)
    client.post(f"/pullbacks/{pullback.pk}/retry/")  # a stale form: refused with the reason, nothing changed
    run.refresh_from_db()
    assert (run.status, run.lease) == ("running", "w1")
    # The worker stopped: no heartbeat for longer than JOB_STALE_AFTER_SECONDS; now it may be retried.
    ScoringRun.objects.filter(pk=run.pk).update(heartbeat_at=now - timedelta(seconds=121))
    assert "Retry scoring" in client.get(f"/pullbacks/{pullback.pk}/").content.decode()
    services.scoring_run_retry(user=coordinator, run=run)
    run.refresh_from_db()
    assert (run.status, run.lease, run.heartbeat_at) == ("queued", "", None)


def test_the_study_choice_button_says_what_it_will_do(patient, coordinator):
    from scoring import services

    longest = make_pullback(patient, length_mm=60, ics=20)
    other = make_pullback(patient, length_mm=45, ics=30)
    client = client_for(coordinator)
    assert (
        "Keep this as the study pullback, whatever comes later" in client.get(f"/pullbacks/{longest.pk}/").content.decode()
    )
    assert "Make this the study pullback" in client.get(f"/pullbacks/{other.pk}/").content.decode()
    services.study_pullback_override(user=coordinator, patient=patient, pullback=other, reason="stent in the 60 mm run")
    html = client.get(f"/pullbacks/{other.pk}/").content.decode()
    assert "Return to the automatic choice" in html and "Study pullback: chosen by a reviewer." in html
