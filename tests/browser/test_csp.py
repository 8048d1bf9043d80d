"""The pages work under the Content-Security-Policy: the patient page, an analysis result and a
pullback page draw their Plotly figures and the browser reports no CSP violation."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from analytics.services import analysis_run
from tests.analytics.registry_cohort import registry_cohort
from tests.browser.test_keyboard import CHROMIUM, _log_in, page  # noqa: F401 - the page fixture
from tests.factories import PatientFactory, UserFactory
from tests.scoring.pullback_files import make_pullback, phantom_file

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Init scripts come from the browser driver, not the page: the policy does not apply to them.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_pages_with_figures_report_no_csp_violation(page, live_server, site):  # noqa: F811
    registry_cohort(30, seed=5)
    coordinator = UserFactory(username="kb-coordinator", roles=["coordinator"])
    patient = PatientFactory(study_id="ICS-0060", site=site)
    pullback = make_pullback(patient, length_mm=45, ics=20)
    stored = Path(settings.MEDIA_ROOT) / pullback.file.name
    stored.parent.mkdir(parents=True, exist_ok=True)
    phantom_file(stored, n_frames=2)
    run = analysis_run(spec={"endpoint": "poce"}, user=coordinator)
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.context.add_init_script(RECORD_VIOLATIONS)
    _log_in(page, live_server, "kb-coordinator")

    for path, drawn in [
        (f"/patients/{patient.study_id}/", "#calcium-map-chart .main-svg"),
        (f"/analytics/runs/{run.pk}/", "#chart-km .main-svg"),
        (f"/pullbacks/{pullback.pk}/", "#calcium-arc-chart .main-svg"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # The patient page fetches its figures when the reader gets to them (Imaging).
        page.locator(drawn.split()[0]).scroll_into_view_if_needed()
        page.wait_for_selector(drawn)  # the figure was drawn: plotly.js and the page's script ran
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => window.__cspViolations") == [], path

    assert [text for text in console if "Content Security Policy" in text] == []


def test_the_api_docs_work_under_the_policy(page, live_server):  # noqa: F811
    UserFactory(username="kb-investigator", roles=["investigator"])
    page.context.add_init_script(RECORD_VIOLATIONS)
    _log_in(page, live_server, "kb-investigator")

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .opblock")  # Swagger UI started and read the schema
    page.wait_for_load_state("networkidle")

    assert page.evaluate("() => window.__cspViolations") == []
