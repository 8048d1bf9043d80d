"""The frame viewer on the pullback page: current-frame markers in the figures, cine at the
acquisition frame rate (else an assumed one, said so), zoom and L-mode controls for the roles that
see frames, and nothing inline for the Content-Security-Policy or from another host."""

import re

import numpy as np
import pytest

from scoring import charts
from scoring.models import Pullback
from tests.conftest import client_for
from tests.factories import assert_no_external_assets
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db


def test_the_map_and_the_arc_carry_a_current_frame_line_that_the_page_moves():
    labels = np.zeros((40, 64), bool)
    for figure in (
        charts.calcium_map_figure(labels, frame_spacing_mm=0.1),
        charts.arc_figure([0.0] * 40, frame_spacing_mm=0.1),
    ):
        marker = figure["layout"]["shapes"][0]
        assert (marker["type"], marker["xref"], marker["yref"]) == ("line", "x", "paper")
        assert (marker["x0"], marker["x1"], marker["y0"], marker["y1"]) == (0, 0, 0, 1)
    # The arc answers a click anywhere above a position, not only on the line.
    assert charts.arc_figure([0.0] * 40, frame_spacing_mm=0.1)["layout"]["hovermode"] == "x"


def _view_html(user, pullback) -> str:
    html = client_for(user).get(f"/pullbacks/{pullback.pk}/").content.decode()
    start = html.index('<div class="pullback-view"')
    return html[start : html.index("</form>", start)]


def test_clinicians_get_cine_zoom_keys_and_the_lmode(patient, clinician):
    pullback = make_pullback(patient, length_mm=50)
    view = _view_html(clinician, pullback)
    assert 'data-cine-rate-hz="30.000000"' in view and "30 frames/s (acquisition rate)" in view
    assert 'id="cine-play" type="button" aria-pressed="false" aria-keyshortcuts="Space">Play<' in view
    for control in ('id="zoom-in"', 'id="zoom-out"', 'id="zoom-reset"', 'id="viewer-keys"', 'id="lmode-angle"'):
        assert control in view
    assert f'src="/api/pullbacks/{pullback.pk}/lmode.png?angle_deg=0" loading="lazy"' in view
    assert 'for="lmode-angle-number"' in view  # both angle inputs are labelled


def test_investigators_see_the_figures_but_no_frames_and_no_lmode(patient, investigator):
    pullback = make_pullback(patient, length_mm=50)
    view = _view_html(investigator, pullback)
    assert 'id="calcium-map-chart"' in view
    assert "lmode.png" not in view and "frames/0.png" not in view and 'id="cine-play"' not in view


def test_without_a_frame_rate_the_cine_says_its_rate_is_assumed(patient, clinician):
    pullback = make_pullback(patient, length_mm=50)
    Pullback.objects.filter(pk=pullback.pk).update(frame_rate_hz=0)
    view = _view_html(clinician, pullback)
    assert 'data-cine-rate-hz="30.000000"' in view and "30 frames/s (assumed: not in the file)" in view


def test_the_viewer_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere(patient, coordinator):
    pullback = make_pullback(patient, length_mm=50)
    html = client_for(coordinator).get(f"/pullbacks/{pullback.pk}/").content.decode()
    assert_no_external_assets(html)
    assert " style=" not in html and "<style" not in html
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert re.search(r" on[a-z]+=", html) is None  # no event-handler attributes
