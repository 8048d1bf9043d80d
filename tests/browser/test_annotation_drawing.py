"""Drawing calcium arcs in the frame viewer of a real browser: a drag around the catheter is
stored with the angle convention (counter-clockwise from 3 o'clock as displayed, image rows
growing downwards) whichever way the drag goes; the degrees form works from the keyboard."""

import math
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from scoring.models import CalciumAnnotation
from tests.browser.test_keyboard import PASSWORD, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import make_pullback, phantom_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
assert PASSWORD


def _drag(browser_page, box, angles_deg, radius_px=150.0):
    """Press at the first angle, move through the others, release (512 x 512 image pixels)."""
    centre = (512 - 1) / 2

    def screen(angle):
        col = centre + radius_px * math.cos(math.radians(angle))
        row = centre - radius_px * math.sin(math.radians(angle))  # rows grow downwards
        return box["x"] + (col + 0.5) * box["width"] / 512, box["y"] + (row + 0.5) * box["height"] / 512

    browser_page.mouse.move(*screen(angles_deg[0]))
    browser_page.mouse.down()
    for angle in angles_deg[1:]:
        browser_page.mouse.move(*screen(angle), steps=3)
    browser_page.mouse.up()


def test_a_coordinator_draws_arcs_and_types_one(page, live_server, site):  # noqa: F811
    UserFactory(username="kb-coordinator", roles=["coordinator"])
    pullback = make_pullback(PatientFactory(study_id="ICS-0050", site=site))
    stored = Path(settings.MEDIA_ROOT) / pullback.file.name
    stored.parent.mkdir(parents=True, exist_ok=True)
    phantom_file(stored, n_frames=2)
    _log_in(page, live_server, "kb-coordinator")
    page.goto(f"{live_server.url}/pullbacks/{pullback.pk}/")
    page.wait_for_selector("#annotation-list li")
    page.set_viewport_size({"width": 1000, "height": 900})
    page.locator("#annotation-layer").scroll_into_view_if_needed()
    box = page.locator("#annotation-layer").bounding_box()  # viewport coordinates, as the mouse uses

    _drag(page, box, [10, 30, 50, 70, 80])  # counter-clockwise, from 3 o'clock towards 12 o'clock
    page.wait_for_function("() => document.querySelectorAll('#annotation-layer path.annotation-arc').length === 1")
    arc = CalciumAnnotation.objects.get()
    assert (arc.frame, arc.start_deg, arc.end_deg) == (0, pytest.approx(10, abs=1), pytest.approx(80, abs=1))

    _drag(page, box, [200, 170, 140, 120])  # clockwise: the same arc as drawn from 120 to 200
    page.wait_for_function("() => document.querySelectorAll('#annotation-layer path.annotation-arc').length === 2")
    arc = CalciumAnnotation.objects.order_by("pk").last()
    assert (arc.start_deg, arc.end_deg) == (pytest.approx(120, abs=1), pytest.approx(200, abs=1))

    page.locator("#annotation-frame").focus()
    page.keyboard.press("Tab")
    page.keyboard.type("300")
    page.keyboard.press("Tab")
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#annotation-layer path.annotation-arc').length === 3")
    arc = CalciumAnnotation.objects.order_by("pk").last()
    assert (arc.frame, arc.start_deg, arc.end_deg) == (0, 300.0, 20.0)
    assert "calcium from 300.0° to 20.0° (80° arc)" in page.inner_text("#annotation-list")

    page.locator("#annotation-list button").first.click()
    page.wait_for_function("() => document.querySelectorAll('#annotation-layer path.annotation-arc').length === 2")
    assert CalciumAnnotation.objects.count() == 2
