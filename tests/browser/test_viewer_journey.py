"""A clinician moves through the frames of a scored pullback from the calcium map, in a real
browser: a click on the map shows that frame (number, image and a marker on the map, the arc and
the L-mode), the keys do what the viewer's help says, the cine plays and pauses and stops at the
end, zoom scales the image and pans, and the L-mode follows the chosen angle. A screenshot goes to
test-artifacts/ (git-ignored)."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from scoring.models import Pullback
from tests.browser.test_csp import RECORD_VIOLATIONS
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import make_pullback, phantom_file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
N_FRAMES = 60


def _scored_pullback(site) -> Pullback:
    """A scored 60-frame phantom pullback with its file in storage (as the scoring browser tests make one)."""
    labels = np.zeros((N_FRAMES, 128), bool)
    labels[20:45, 10:40] = True
    pullback = make_pullback(PatientFactory(study_id="ICS-0070", site=site), labels=labels)
    stored = Path(settings.MEDIA_ROOT) / pullback.file.name
    stored.parent.mkdir(parents=True, exist_ok=True)
    phantom_file(stored, n_frames=N_FRAMES)
    Pullback.objects.filter(pk=pullback.pk).update(n_frames=N_FRAMES)
    return pullback


def _state(browser_page) -> dict:
    return browser_page.evaluate(
        """() => {
          const viewer = document.getElementById("frame-viewer");
          const marker = (id) => document.getElementById(id).layout.shapes[0].x0;
          return {
            frame: Number(viewer.dataset.frame),
            shown: Number(viewer.dataset.shownFrame),
            slider: Number(document.getElementById("frame-slider").value),
            position: document.getElementById("frame-position").textContent,
            src: document.getElementById("frame-image").getAttribute("src"),
            mapMarker: marker("calcium-map-chart"),
            arcMarker: marker("calcium-arc-chart"),
            lmodeMarker: Number(document.getElementById("lmode-marker").style.getPropertyValue("--frame-fraction")),
          };
        }"""
    )


def _assert_shows(browser_page, frame: int, spacing_mm: float) -> None:
    """The viewer shows `frame` (0-based): number, slider, loaded image and the three markers."""
    browser_page.wait_for_function(
        # The image settles too: after quick keys a frame passed on the way may still be loading
        # (shownFrame already says the wanted one from an earlier load); the loader then fetches
        # the wanted frame again.
        "(f) => Number(document.getElementById('frame-viewer').dataset.shownFrame) === f"
        " && document.getElementById('frame-image').src.endsWith('/frames/' + f + '.png')"
        " && document.getElementById('frame-image').complete"
        " && document.getElementById('calcium-map-chart').layout.shapes[0].x0 > -1"
        " && Number(document.getElementById('lmode-marker').style.getPropertyValue('--frame-fraction'))"
        " === (f + 0.5) / " + str(N_FRAMES),
        arg=frame,
    )
    state = _state(browser_page)
    assert state["frame"] == state["shown"] == state["slider"] == frame
    assert state["position"].startswith(f"{frame + 1} / {N_FRAMES}, ")
    assert state["src"].endswith(f"/frames/{frame}.png")
    assert state["mapMarker"] == state["arcMarker"] == pytest.approx(frame * spacing_mm)


def _click_chart_at(browser_page, chart_id: str, frame: int, spacing_mm: float) -> None:
    """Click the plot area of a Plotly chart above the position (mm) of `frame`."""
    point = browser_page.evaluate(
        """([id, x]) => {
          const chart = document.getElementById(id);
          const xa = chart._fullLayout.xaxis, ya = chart._fullLayout.yaxis, box = chart.getBoundingClientRect();
          return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya._length * 0.7];
        }""",
        [chart_id, frame * spacing_mm],
    )
    browser_page.mouse.click(*point)


def _help(browser_page) -> dict[str, str]:
    terms = browser_page.locator("#viewer-keys dt").all_inner_texts()
    return dict(zip(terms, browser_page.locator("#viewer-keys dd").all_inner_texts(), strict=True))


def _press(browser_page, key: str) -> int:
    browser_page.keyboard.press(key)  # the viewer handles keys synchronously
    return _state(browser_page)["frame"]


def test_a_clinician_moves_through_frames_from_the_map(page, live_server, site):  # noqa: F811
    pullback = _scored_pullback(site)
    spacing_mm = pullback.frame_spacing_mm
    UserFactory(username="kb-clinician", roles=["clinician"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.context.add_init_script(RECORD_VIOLATIONS)
    _log_in(page, live_server, "kb-clinician")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/pullbacks/{pullback.pk}/")
    page.wait_for_selector("#calcium-map-chart .main-svg")
    page.locator("#frame-viewer").scroll_into_view_if_needed()
    _assert_shows(page, 0, spacing_mm)
    # Plotly's toolbar buttons stay out of the Tab order (chart_toolbar.js, on every page).
    assert page.evaluate(
        "() => { const b = [...document.querySelectorAll('.modebar-btn')]; return b.length > 0 && b.every(x => x.tabIndex === -1); }"
    )

    # A click on the arc or the map shows that frame; the keys work from there on.
    _click_chart_at(page, "calcium-arc-chart", 15, spacing_mm)
    _assert_shows(page, 15, spacing_mm)
    _click_chart_at(page, "calcium-map-chart", 40, spacing_mm)
    _assert_shows(page, 40, spacing_mm)
    assert page.evaluate("() => document.activeElement.id") == "frame-viewer"

    # The help and the keys are one table: each frame key moves as far as its help says.
    keys = _help(page)
    assert keys["Page Up"] == "10 frames forward" and keys["Page Down"] == "10 frames back"
    assert keys["→ or ↑"] == "next frame" and keys["← or ↓"] == "previous frame"
    assert keys["Home"] == "first frame" and keys["End"] == "last frame" and keys["Space"] == "play or pause the cine"
    assert _press(page, "PageDown") == 30
    _assert_shows(page, 30, spacing_mm)
    assert _press(page, "PageUp") == 40
    assert [_press(page, k) for k in ("ArrowRight", "ArrowUp", "ArrowLeft", "ArrowDown")] == [41, 42, 41, 40]
    assert (_press(page, "End"), _press(page, "Home")) == (N_FRAMES - 1, 0)
    page.locator("#frame-slider").focus()  # the slider's own Page Up was a tenth of the range
    assert (_press(page, "PageUp"), _press(page, "PageUp"), _press(page, "PageDown")) == (10, 20, 10)
    _assert_shows(page, 10, spacing_mm)

    # Cine: Space plays, the button pauses; frames advance while playing and stop when paused.
    play = page.locator("#cine-play")
    assert play.get_attribute("aria-pressed") == "false"
    assert "30 frames/s" in page.inner_text("#cine-rate")
    page.keyboard.press("Space")
    assert play.get_attribute("aria-pressed") == "true"
    page.wait_for_function("() => Number(document.getElementById('frame-viewer').dataset.shownFrame) >= 16")
    play.click()
    assert play.get_attribute("aria-pressed") == "false"
    paused = _state(page)["frame"]
    page.wait_for_timeout(500)
    assert _state(page)["frame"] == paused
    _assert_shows(page, paused, spacing_mm)
    # Played from near the end, the cine stops on the last frame.
    page.locator("#frame-viewer").focus()
    page.keyboard.press("End")
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    play.click()
    page.wait_for_function("() => document.getElementById('cine-play').getAttribute('aria-pressed') === 'false'")
    _assert_shows(page, N_FRAMES - 1, spacing_mm)

    # Zoom: keys and buttons scale the image (crisp pixels), Shift + arrows pan it, 0 resets.
    image = page.locator("#frame-image")
    width = image.bounding_box()["width"]
    page.locator("#frame-viewer").focus()
    page.keyboard.press("+")
    assert page.inner_text("#zoom-level") == "150%"
    page.locator("#zoom-in").click()
    assert page.inner_text("#zoom-level") == "200%"
    assert image.bounding_box()["width"] == pytest.approx(2 * width, rel=0.01)
    assert page.evaluate("() => getComputedStyle(document.getElementById('frame-image')).imageRendering") == "pixelated"
    left = image.bounding_box()["x"]
    page.locator("#frame-viewer").focus()
    page.keyboard.press("Shift+ArrowLeft")  # a tenth of the visible image further left
    assert image.bounding_box()["x"] == pytest.approx(left + width / 10, abs=1)
    page.mouse.move(*_centre(page, "#frame-stage"))
    page.mouse.down()
    page.mouse.move(*_centre(page, "#frame-stage", dx=-60), steps=4)
    page.mouse.up()
    assert image.bounding_box()["x"] == pytest.approx(left + width / 10 - 60, abs=1)
    page.locator("#zoom-out").click()
    assert page.inner_text("#zoom-level") == "150%"
    page.keyboard.press("+")
    page.screenshot(path=str(_artifact("viewer_journey_zoomed.png")), full_page=True)
    page.locator("#frame-viewer").focus()
    page.keyboard.press("0")
    assert page.inner_text("#zoom-level") == "100%"
    assert image.bounding_box()["width"] == pytest.approx(width, rel=0.01)

    # The L-mode: one column per frame, the chosen angle, a click shows that frame.
    lmode = page.locator("#lmode-image")
    lmode.scroll_into_view_if_needed()
    page.wait_for_function("() => document.getElementById('lmode-image').naturalWidth === " + str(N_FRAMES))
    page.fill("#lmode-angle-number", "90")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const i = document.getElementById('lmode-image');"
        " return i.src.endsWith('angle_deg=90') && i.complete && i.naturalWidth > 0; }"
    )
    assert page.input_value("#lmode-angle") == "90" and "90°" in lmode.get_attribute("alt")
    assert re.fullmatch(r"[\d.]+", page.get_attribute("#cut-line", "x1"))  # the cut is drawn on the frame
    box = lmode.bounding_box()
    page.mouse.click(box["x"] + box["width"] * (25.5 / N_FRAMES), box["y"] + box["height"] / 2)
    _assert_shows(page, 25, spacing_mm)

    page.wait_for_load_state("networkidle")
    page.locator("#pullback-view").scroll_into_view_if_needed()
    page.screenshot(path=str(_artifact("viewer_journey.png")), full_page=True)
    assert errors == [] and page.evaluate("() => window.__cspViolations") == []
    page.set_viewport_size({"width": 768, "height": 1000})  # one column, nothing wider than the window
    page.wait_for_timeout(300)  # Plotly redraws the charts for the new width
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def _centre(browser_page, selector: str, dx: float = 0) -> tuple[float, float]:
    box = browser_page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
