"""Locust scenario for the registry (run by run.py; LOAD_FIXTURE names the seed's JSON).

Warm-up, then measurement: every user first signs in (password hashing is slow by design); once
all have (or after WARMUP_MAX_SECONDS) the sign-in figures are kept aside, the statistics are reset
and the run lasts LOAD_SECONDS more, so that the table shows the steady state.

Three roles, 1-3 s think time. Page users sign in through the real login form (CSRF); API calls
go through a second, cookie-less session with a token from POST /api/auth/token/. Requests are
named by page, not by URL, so that the report is per page. A response other than the expected
status is a failure; its message starts with "5xx", "connection" or "4xx"/"unexpected".
"""

import json
import os
import random
import re
import time

import gevent
from locust import HttpUser, between, events, task
from locust.clients import HttpSession

FIXTURE = json.loads(open(os.environ["LOAD_FIXTURE"], encoding="utf-8").read())
STUDY_IDS = FIXTURE["study_ids"]
ALIVE = FIXTURE["alive_study_ids"]
PENDING = list(FIXTURE["pending_events"])  # (study_id, pk): each verified once, shared by all users
random.Random(1).shuffle(PENDING)
PULLBACKS = FIXTURE["pullbacks"]
TODAY = FIXTURE["today"]
ANALYSIS_SPEC = FIXTURE["analysis_spec"]
DATASET_PAGES = max(1, -(-len(STUDY_IDS) // 500))  # pages of 500 rows
STATUSES = ("overdue", "lost", "active", "complete", "deceased")
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_user_counter = {"coordinator": 0, "clinician": 0, "investigator": 0}
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
WARMUP_MAX_SECONDS = 300
SIGNIN_NAMES = ("login form", "login (POST)", "API token (sign-in)")
STATE = {"signed_in": 0, "measuring": False, "warmup_seconds": None, "signin": {}, "measured_seconds": None}
ANALYSIS_TIMES: list[dict] = []


def _check(response, expected: tuple[int, ...] = (200,)) -> bool:
    code = response.status_code
    if code in expected:
        response.success()
        return True
    if code == 0 or code is None:
        response.failure(f"connection: {response.error!r}")
    elif code >= 500:
        response.failure(f"5xx: HTTP {code}")
    elif 300 <= code < 400:
        response.failure(f"unexpected redirect: HTTP {code} to {response.headers.get('Location')}")
    else:
        response.failure(f"4xx: HTTP {code} {response.text[:200]!r}")
    return False


class RegistryUser(HttpUser):
    abstract = True
    wait_time = between(1, 3)
    role = ""

    def on_start(self):
        _user_counter[self.role] += 1
        accounts = FIXTURE["users"][self.role]
        account = accounts[(_user_counter[self.role] - 1) % len(accounts)]
        self._login_form(account)
        self.api = HttpSession(self.host, self.environment.events.request, self)
        with self.api.post(
            "/api/auth/token/",
            data={"username": account["username"], "password": account["password"]},
            name="API token (sign-in)",
            catch_response=True,
        ) as r:
            if _check(r):
                self.api.headers["Authorization"] = f"Token {r.json()['token']}"
        STATE["signed_in"] += 1

    def _login_form(self, account):
        with self.client.get("/accounts/login/", name="login form", catch_response=True) as r:
            _check(r)
            match = CSRF_RE.search(r.text)
        if not match:
            return
        with self.client.post(
            "/accounts/login/",
            name="login (POST)",
            allow_redirects=False,
            catch_response=True,
            data={"username": account["username"], "password": account["password"], "csrfmiddlewaretoken": match.group(1)},
        ) as r:
            _check(r, (302,))

    def _page(self, url: str, name: str, expected=(200,)):
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as r:
            _check(r, expected)
            return r

    def _api_get(self, url: str, name: str, **kwargs):
        with self.api.get(url, name=name, catch_response=True, **kwargs) as r:
            _check(r)
            return r

    def _form_post(self, form_url: str, form_name: str, post_name: str, data: dict, post_url: str | None = None):
        """GET the form (its CSRF token), POST it; a valid POST redirects (302)."""
        r = self._page(form_url, form_name)
        match = CSRF_RE.search(r.text or "")
        token = match.group(1) if match else self.client.cookies.get("csrftoken", "")
        with self.client.post(
            post_url or form_url,
            name=post_name,
            allow_redirects=False,
            catch_response=True,
            data={**data, "csrfmiddlewaretoken": token},
        ) as r:
            if r.status_code == 200:
                errors = re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]{1,160})', r.text)
                r.failure(f"form refused: {errors[:3]}")
            else:
                _check(r, (302,))


class Coordinator(RegistryUser):
    weight = 4
    role = "coordinator"

    @task(3)
    def worklist(self):
        self._page("/worklist/", "worklist")

    @task(2)
    def patient_list(self):
        self._page(f"/patients/?page={random.randint(1, 50)}", "patient list")

    @task(2)
    def patient_search(self):
        # a study ID prefix or a hospital number
        study_id = random.choice(STUDY_IDS)
        q = study_id[:-1] if random.random() < 0.5 else "MRN" + study_id[-5:]
        self._page(f"/patients/?q={q}", "patient list ?q= search")

    @task(2)
    def patient_list_status(self):
        self._page(f"/patients/?status={random.choice(STATUSES)}", "patient list ?status= filter")

    @task(4)
    def patient_page(self):
        self._page(f"/patients/{random.choice(STUDY_IDS)}/", "patient page")

    @task(1)
    def record_contact(self):
        study_id = random.choice(ALIVE)
        url = f"/patients/{study_id}/contacts/new/"
        self._form_post(
            url,
            "contact form",
            "contact form (POST)",
            {"contact_date": TODAY, "method": "phone", "vital_status": "alive", "notes": "load test"},
        )

    @task(1)
    def verify_event(self):
        if not PENDING:
            return
        study_id, pk = PENDING.pop()
        url = f"/patients/{study_id}/events/{pk}/verify/"
        self._form_post(
            url,
            "event verify form",
            "event verify (POST)",
            {"decision": "verified", "source_document": "load test discharge letter", "reason": ""},
        )

    @task(1)
    def api_contact(self):
        study_id = random.choice(ALIVE)
        with self.api.post(
            f"/api/patients/{study_id}/contacts/",
            name="API contact create (POST)",
            catch_response=True,
            json={"contact_date": TODAY, "method": "gp", "vital_status": "alive"},
        ) as r:
            _check(r, (201,))

    @task(2)
    def api_patient(self):
        self._api_get(f"/api/patients/{random.choice(STUDY_IDS)}/", "API patient detail")

    @task(1)
    def api_patient_events(self):
        self._api_get(f"/api/patients/{random.choice(STUDY_IDS)}/events/", "API patient events")

    @task(1)
    def api_patient_list(self):
        self._api_get(f"/api/patients/?q={random.choice(STUDY_IDS)[:-2]}", "API patient list ?q=")

    @task(1)
    def api_pending_events(self):
        self._api_get("/api/events/?verification=pending", "API events ?verification=pending")


class Clinician(RegistryUser):
    weight = 3
    role = "clinician"

    @task(5)
    def patient_page(self):
        self._page(f"/patients/{random.choice(STUDY_IDS)}/", "patient page")

    @task(2)
    def patient_search(self):
        self._page(f"/patients/?q=MRN{random.choice(STUDY_IDS)[-5:]}", "patient list ?q= search")

    @task(2)
    def pullback_page(self):
        if PULLBACKS:
            self._page(f"/pullbacks/{random.choice(PULLBACKS)}/", "pullback page")

    @task(3)
    def api_patient(self):
        self._api_get(f"/api/patients/{random.choice(STUDY_IDS)}/", "API patient detail")

    @task(2)
    def api_contacts(self):
        self._api_get(f"/api/patients/{random.choice(STUDY_IDS)}/contacts/", "API patient contacts")

    @task(1)
    def api_patient_list(self):
        self._api_get(f"/api/patients/?q={random.choice(STUDY_IDS)[:-2]}", "API patient list ?q=")


class Investigator(RegistryUser):
    weight = 3
    role = "investigator"

    @task(3)
    def builder(self):
        self._page("/analytics/", "analytics builder")

    @task(3)
    def cohort_count(self):
        filters = [
            {"field": "ics", "op": "ge", "value": random.choice([50, 100, 200, 400])},
            {"field": "study_vessel", "op": "in", "value": ["LAD", "RCA"]},
        ]
        self._api_get("/api/analyses/cohort-count/", "API cohort count", params={"filters": json.dumps(filters)})

    @task(1)
    def analysis(self):
        # Large analyses run in the Celery worker: POST answers 202 at once, then poll until done.
        started = time.perf_counter()
        with self.api.post(
            "/api/analyses/", name="API analysis run (5,000 patients)", json=ANALYSIS_SPEC, catch_response=True
        ) as r:
            if not _check(r, (201, 202)):
                return
            body = r.json()
        while body.get("status") in ("queued", "running") and time.perf_counter() - started < 60:
            gevent.sleep(0.25)
            with self.api.get(f"/api/analyses/{body['id']}/", name="API analysis status (poll)", catch_response=True) as r:
                if not _check(r):
                    return
                body = r.json()
        seconds = time.perf_counter() - started
        if body.get("status") != "succeeded":
            events.request.fire(
                request_type="ANALYSIS",
                name="analysis finished",
                response_time=seconds * 1000,
                response_length=0,
                exception=RuntimeError(f"analysis {body.get('status')}"),
            )
            return
        ANALYSIS_TIMES.append(
            {"seconds": round(seconds, 3), "n_patients": body.get("n_patients"), "status": body.get("status")}
        )

    @task(2)
    def analysis_dataset(self):
        self._api_get(
            "/api/analysis-dataset/",
            "API analysis dataset (page of 500)",
            params={"page": random.randint(1, DATASET_PAGES), "page_size": 500},
        )

    @task(2)
    def patient_list(self):
        self._page(f"/patients/?page={random.randint(1, 50)}", "patient list")


@events.test_start.add_listener
def _phases(environment, **kwargs):
    def run():
        started = time.monotonic()
        target = environment.parsed_options.num_users if environment.parsed_options else 1
        while STATE["signed_in"] < target and time.monotonic() - started < WARMUP_MAX_SECONDS:
            gevent.sleep(0.5)
        stats = environment.runner.stats
        STATE["warmup_seconds"] = round(time.monotonic() - started, 1)
        STATE["signin"] = {
            name: {
                "requests": e.num_requests,
                "failures": e.num_failures,
                "p50_ms": e.get_response_time_percentile(0.5),
                "p95_ms": e.get_response_time_percentile(0.95),
                "max_ms": e.max_response_time,
            }
            for (name, _method), e in stats.entries.items()
            if name in SIGNIN_NAMES
        }
        stats.reset_all()
        ANALYSIS_TIMES.clear()
        STATE["measuring"] = True
        measure_start = time.monotonic()
        gevent.sleep(LOAD_SECONDS)
        STATE["measured_seconds"] = round(time.monotonic() - measure_start, 1)
        environment.runner.quit()

    gevent.spawn(run)


@events.quitting.add_listener
def _write_extra(environment, **kwargs):
    out = os.environ.get("LOAD_EXTRA_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as fp:
            json.dump({"analysis": ANALYSIS_TIMES, **STATE}, fp)
