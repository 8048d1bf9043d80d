"""Registry CSV import: `patients.csv` and `events.csv` (format in `registry.csv_io`) into the registry.

All or nothing. Every row is parsed and checked against the registry rules (`registry.rules`,
the same messages as the web forms), considering the file AND what the registry already holds:
events against the index date in the same file, a death plus a later event, two deaths, a death
before an existing contact. All problems are collected; if there is any, `ImportFailed` is raised
and nothing is written. Otherwise everything is written in one short transaction (below).

Upserts: patients keyed by study_id, events by (study_id, event_type, event_date). Rows of the
registry that are not in the file are left alone. The file is the truth for the fields it carries:
- patients: every column; `site` (optional) defaults to the `site_code` argument for new patients
  (else to the importing user's site if they have exactly one; a user of several sites names the
  site on each new patient's row) and leaves an existing patient's site alone when empty; a
  site-restricted user imports only patients of their sites; `ics` goes to `ics_imported`, with
  `ics_source` (optional; one of `csv_io.ICS_SOURCES`, code or label; default "registry import",
  or the existing source if the ICS is unchanged);
- `last_contact_date` is stored as the patient's one FollowUpContact with method "registry_import"
  (created, moved, or removed when the cell is empty);
- events: `target_vessel` and `verified` (1 -> verified by the importing user now, 0 -> pending
  again). Imported events get source "registry_import". An event that the registry holds as
  rejected is left alone.
Every created, changed or removed row gets an AuditEntry with reason "registry import <file>";
unchanged rows are not written and not audited.

The write lock. On the embedded SQLite a write transaction locks the whole database: every other
write waits for it (at most the busy timeout, then a 503, `registry.busy`). So the one write
transaction is kept short rather than split: `_prepare` builds every row before it, with no lock
held (model instances, audit entries, database values; primary keys of new rows are reserved
beforehand in a transaction of their own, `_reserve_ids`, so that audit entries can name them),
and the write transaction only re-checks what was read (versions, new sites), runs one prepared
INSERT/UPDATE/DELETE per table (executemany) and refreshes the follow-up summary of the imported
patients. Why not short transactions with staging: the final copy from staging into the registry
would store the same rows under the same lock, so it would not be shorter, and the registry would
need staging tables. Measured (benchmarks/write_contention.py, two 20,000-patient imports of about
113,000 rows each, on 2 busy shared cores): the write transaction took 21 s with Django's bulk_create
inside it, 5-11 s now, of which about 40 % is the follow-up summary refresh; it grows linearly with
the number of rows.

The web runs imports in the background: `import_job_start` stores the uploaded files on an
ImportJob and enqueues `registry.tasks.import_job_run_task`, which calls `import_job_run`.
"""

import copy
import io
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TextIO

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from core import jobs
from core.roles import IMPORT_EXPORT, acting_user, require_role
from registry import csv_io, rules, services
from registry.access import sites_for_user, user_site_ids
from registry.audit import audit_entry, diff, snapshot
from registry.csv_io import EVENTS_FILE, PATIENTS_FILE, CsvProblem, Table
from registry.models import (
    AuditEntry,
    ClinicalEvent,
    ContactMethod,
    EventSource,
    FollowUpContact,
    ImportJob,
    Patient,
    Site,
    Verification,
    VitalStatus,
)

logger = logging.getLogger(__name__)

ImportProblem = CsvProblem
IMPORT_SOURCE = "registry import"  # default ics_source and source_document of verified events
BATCH_SIZE = 500

# patients.csv column -> Patient field, for the columns that map one to one.
PATIENT_FIELD_OF_COLUMN = {
    c.name: c.name for c in csv_io.PATIENT_COLUMNS if c.name not in ("study_id", "ics", "last_contact_date")
} | {"ics": "ics_imported"}
CONTACT_AUDIT_FIELDS = ["contact_date", "method", "vital_status"]
EVENT_AUDIT_FIELDS = [
    "event_type",
    "event_date",
    "target_vessel",
    "source",
    "verification",
    "verified_by",
    "verified_at",
    "source_document",
]
_FILE_ORDER = {PATIENTS_FILE: 0, EVENTS_FILE: 1}
_COLUMN_ORDER = {
    PATIENTS_FILE: {c.name: i for i, c in enumerate((*csv_io.PATIENT_COLUMNS, *csv_io.PATIENT_OPTIONAL_COLUMNS))},
    EVENTS_FILE: {c.name: i for i, c in enumerate(csv_io.EVENT_COLUMNS)},
}


class ImportFailed(Exception):
    """The files have problems; nothing was imported. `.problems` lists every one of them."""

    def __init__(self, problems: list[ImportProblem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) found; nothing was imported")


@dataclass(frozen=True)
class ImportReport:
    summary: dict
    dry_run: bool = False


def registry_import(
    *,
    user,
    patients_csv: TextIO,
    events_csv: TextIO | None = None,
    progress: Callable[[int], None] | None = None,
    dry_run: bool = False,
    site_code: str | None = None,
    before_write: Callable[[], None] | None = None,
    after_write: Callable[[dict], None] | None = None,
) -> ImportReport:
    """Validate both files against the rules and the registry, then write everything or nothing.

    `user` is recorded in the audit trail (None: the system, e.g. the command line). `site_code` is
    the site of new patients without a `site` cell (default: the user's site if they have exactly
    one, none for a user of several sites; for a user of all sites or the system the setting
    DEFAULT_SITE_CODE, else "MAIN"; created if it does not exist). `progress` gets percentages.
    With `dry_run`, the summary says what would change and nothing is written. `before_write()`
    and `after_write(summary)` are called first and last inside the write transaction (a background
    job locks its row there, and records its success in the same commit as the data).

    Checking reads the registry outside the write transaction, so that a background job's progress
    is visible while it runs; the writes then happen in one transaction.
    """
    report = progress or (lambda percent: None)
    patients = csv_io.read_table(
        patients_csv,
        file=PATIENTS_FILE,
        columns=csv_io.PATIENT_COLUMNS,
        optional_columns=csv_io.PATIENT_OPTIONAL_COLUMNS,
    )
    events = (
        csv_io.read_table(events_csv, file=EVENTS_FILE, columns=csv_io.EVENT_COLUMNS) if events_csv is not None else None
    )
    report(10)
    run = _Import(user=user, site_code=site_code, today=timezone.localdate(), progress=report)
    run.check(patients, events)
    if run.problems:
        raise ImportFailed(sorted(run.problems, key=_problem_order))
    if not dry_run:
        run.write(before=before_write, after=after_write)
    report(100)
    return ImportReport(summary=run.summary, dry_run=dry_run)


def _problem_order(p: ImportProblem) -> tuple[int, int, int]:
    return _FILE_ORDER.get(p.file, 9), p.row or 0, _COLUMN_ORDER.get(p.file, {}).get(p.column or "", -1)


# Checking ------------------------------------------------------------------------------------


@dataclass
class _FileEvent:
    row: int
    study_id: str
    event_type: str
    event_date: date
    target_vessel: bool | None
    verified: bool

    @property
    def key(self) -> tuple:
        return self.study_id, self.event_type, self.event_date


@dataclass
class _Plan:
    """What the import will write, computed before anything is written."""

    new_patients: list[dict] = field(default_factory=list)  # Patient field values + "site_code"
    patient_updates: list[tuple[Patient, dict]] = field(default_factory=list)  # patient, {field: new}
    new_contacts: list[tuple[str, date]] = field(default_factory=list)  # study_id, contact date
    contact_updates: list[tuple[FollowUpContact, date]] = field(default_factory=list)
    contact_removals: list[FollowUpContact] = field(default_factory=list)
    new_events: list[_FileEvent] = field(default_factory=list)
    event_updates: list[tuple[ClinicalEvent, _FileEvent]] = field(default_factory=list)
    patients_unchanged: int = 0
    events_unchanged: int = 0


class _Import:
    def __init__(self, *, user, site_code: str | None, today: date, progress: Callable[[int], None]):
        self.user = acting_user(user)
        # The codes of the sites the user may import into; None: every site (and new ones).
        self.allowed_site_codes = (
            None
            if self.user is None or user_site_ids(self.user) is None
            else sorted(sites_for_user(self.user).values_list("code", flat=True))
        )
        self.site_code = site_code or self._default_site_code()
        self.today = today
        self.progress = progress
        self.problems: list[ImportProblem] = []
        self.plan = _Plan()

    def _default_site_code(self) -> str | None:
        """The site of a new patient whose row names none: the user's site if they have exactly
        one; None if they have several or none (each row must then name its site)."""
        if self.allowed_site_codes is None:
            return getattr(settings, "DEFAULT_SITE_CODE", "MAIN")
        return self.allowed_site_codes[0] if len(self.allowed_site_codes) == 1 else None

    def _your_sites(self) -> str:
        codes = self.allowed_site_codes or []
        if not codes:
            return "you have access to no site, so you may import no patient (an administrator can give you access)"
        return f"you may import only patients of your site{'s' if len(codes) > 1 else ''} {', '.join(codes)}"

    # The registry as it is, for the study_ids the files mention.
    def _load_registry(self, study_ids: set[str]) -> None:
        self.db_patients: dict[str, Patient] = {}
        for chunk in _chunks(sorted(study_ids)):
            found = Patient.objects.select_related("site").filter(study_id__in=chunk)
            self.db_patients |= {p.study_id: p for p in found}
        self.db_contacts: dict[int, list[FollowUpContact]] = defaultdict(list)
        self.db_events: dict[int, list[ClinicalEvent]] = defaultdict(list)
        for chunk in _chunks([p.pk for p in self.db_patients.values()]):
            for contact in FollowUpContact.objects.filter(patient_id__in=chunk).order_by("pk"):
                self.db_contacts[contact.patient_id].append(contact)
            for event in ClinicalEvent.objects.filter(patient_id__in=chunk).order_by("pk"):
                self.db_events[event.patient_id].append(event)

    def check(self, patients: Table, events: Table | None) -> None:
        self.problems += patients.problems + (events.problems if events else [])
        if not patients.readable or (events is not None and not events.readable):
            return  # without usable headers the rows cannot be checked against each other
        self._check_text_cells(patients, events)
        self.file_patients = self._unique_patients(patients.rows)
        self.file_events = self._unique_events(events.rows if events else [])
        self._load_registry(set(self.file_patients) | {e.study_id for e in self.file_events})
        self.progress(20)
        self._drop_unknown_and_rejected_events()
        events_of = defaultdict(list)
        for event in self.file_events:
            events_of[event.study_id].append(event)
        study_ids = sorted(set(self.file_patients) | set(events_of))
        for done, study_id in enumerate(study_ids, start=1):
            if self._other_site(study_id):
                self._report_other_site(study_id, events_of[study_id])
            else:
                self._check_patient(study_id, events_of[study_id])
            if done % 1000 == 0:
                self.progress(20 + 40 * done // len(study_ids))
        self.progress(60)

    def _check_text_cells(self, patients: Table, events: Table | None) -> None:
        """Study IDs and site codes are plain identifiers (the ICS source is a choice of csv_io)."""
        for row, values in patients.rows:
            found = rules.identifier_problems("study_id", values["study_id"])
            found += rules.identifier_problems("site", values.get("site"))
            for p in found:
                self._problem(PATIENTS_FILE, row, p.field, p.message)
        for row, values in events.rows if events else []:
            for p in rules.identifier_problems("study_id", values["study_id"]):
                self._problem(EVENTS_FILE, row, p.field, p.message)

    def _unique_patients(self, rows: list[tuple[int, dict]]) -> dict[str, tuple[int, dict]]:
        seen: dict[str, tuple[int, dict]] = {}
        for row, values in rows:
            study_id = values["study_id"]
            if not study_id:
                continue  # reported as required
            if study_id in seen:
                self._problem(
                    PATIENTS_FILE,
                    row,
                    "study_id",
                    f"{study_id} appears more than once in the file (first in row {seen[study_id][0]})",
                )
                continue
            seen[study_id] = (row, values)
        return seen

    def _unique_events(self, rows: list[tuple[int, dict]]) -> list[_FileEvent]:
        seen: dict[tuple, int] = {}
        events = []
        for row, v in rows:
            if not v["study_id"] or v["event_type"] is None or v["event_date"] is None or v["verified"] is None:
                continue  # reported while parsing
            event = _FileEvent(row, v["study_id"], v["event_type"], v["event_date"], v["target_vessel"], v["verified"])
            if event.key in seen:
                self._problem(
                    EVENTS_FILE,
                    row,
                    None,
                    f"the same event ({event.study_id} {event.event_type} on "
                    f"{event.event_date.isoformat()}) is already in row {seen[event.key]}",
                )
                continue
            seen[event.key] = row
            events.append(event)
        return events

    def _drop_unknown_and_rejected_events(self) -> None:
        kept = []
        for event in self.file_events:
            if event.study_id not in self.file_patients and event.study_id not in self.db_patients:
                self._problem(
                    EVENTS_FILE, event.row, "study_id", f"{event.study_id} is neither in {PATIENTS_FILE} nor in the registry"
                )
            elif self._other_site(event.study_id):
                kept.append(event)  # reported as another site's, whatever the registry holds for it
            elif self._db_event(event) is None and self._rejected_db_event(event):
                continue  # the registry rejected this event: left alone
            else:
                kept.append(event)
        self.file_events = kept

    def _db_event(self, event: _FileEvent) -> ClinicalEvent | None:
        """The registry's non-rejected event with the same key, if any (the first one)."""
        patient = self.db_patients.get(event.study_id)
        for db_event in self.db_events[patient.pk] if patient else []:
            if (db_event.event_type, db_event.event_date) == (
                event.event_type,
                event.event_date,
            ) and db_event.verification != Verification.REJECTED:
                return db_event
        return None

    def _rejected_db_event(self, event: _FileEvent) -> bool:
        patient = self.db_patients.get(event.study_id)
        return any(
            (e.event_type, e.event_date, e.verification) == (event.event_type, event.event_date, Verification.REJECTED)
            for e in (self.db_events[patient.pk] if patient else [])
        )

    def _check_patient(self, study_id: str, file_events: list[_FileEvent]) -> None:
        """All rules for one patient: the row, its events, and both against what the registry keeps."""
        existing = self.db_patients.get(study_id)
        row, values = self.file_patients.get(study_id, (None, None))
        if values:
            index_date = values["index_date"]
        else:
            assert existing is not None  # an event's patient is in the file or in the registry (unknown ones are dropped)
            index_date = existing.index_date
        file_keys = {e.key for e in file_events}
        kept_events = [
            e
            for e in (self.db_events[existing.pk] if existing else [])
            if e.verification != Verification.REJECTED and (study_id, e.event_type, e.event_date) not in file_keys
        ]
        kept_contacts = [
            c
            for c in (self.db_contacts[existing.pk] if existing else [])
            if not (values and c.method == ContactMethod.REGISTRY_IMPORT)  # replaced by the file's last contact
        ]
        deaths = sorted(
            [e.event_date for e in kept_events if e.event_type == "death"]
            + [e.event_date for e in file_events if e.event_type == "death"]
        )
        if values:
            kept_dates = [e.event_date for e in kept_events] + [c.contact_date for c in kept_contacts]
            self._check_patient_row(row, values, existing, death_date=deaths[0] if deaths else None, kept_dates=kept_dates)
        self._check_site(values, row, existing)
        self._check_events(
            file_events, index_date=index_date, deaths=deaths, kept_events=kept_events, kept_contacts=kept_contacts
        )
        self._plan_patient(study_id, values, existing)
        self._plan_events(file_events)

    def _check_patient_row(
        self, row: int | None, values: dict, existing: Patient | None, *, death_date: date | None, kept_dates: list[date]
    ) -> None:
        index_date = values["index_date"]
        for p in rules.patient_problems(
            age_at_index=values["age_at_index"],
            egfr=values["egfr"],
            index_date=index_date,
            today=self.today,
            ics=values["ics"],
        ):
            if p.field != "index_date" or index_date is not None:  # a missing index date is reported already
                self._problem(PATIENTS_FILE, row, p.field, p.message)
        if index_date is None:
            return
        if values["last_contact_date"] is not None:
            for p in rules.follow_up_date_problems(
                field="last_contact_date",
                value=values["last_contact_date"],
                index_date=index_date,
                today=self.today,
                death_date=death_date,
            ):
                self._problem(PATIENTS_FILE, row, p.field, p.message)
        if existing is not None and kept_dates and min(kept_dates) < index_date:
            self._problem(
                PATIENTS_FILE,
                row,
                "index_date",
                f"{index_date.isoformat()} is after the patient's follow-up record on {min(kept_dates).isoformat()}",
            )

    def _other_site(self, study_id: str) -> bool:
        """The registry holds this study_id at a site that the (site-restricted) user may not see."""
        existing = self.db_patients.get(study_id)
        return (
            self.allowed_site_codes is not None
            and existing is not None
            and existing.site.code not in self.allowed_site_codes
        )

    def _report_other_site(self, study_id: str, file_events: list[_FileEvent]) -> None:
        """Each row of another site's patient gets one problem saying so, and nothing else: no site
        code, no dates, no rule checked against that patient's data (the user may not see them)."""
        message = f"{study_id} belongs to another site: {self._your_sites()}"
        row, _ = self.file_patients.get(study_id, (None, None))
        where = [(PATIENTS_FILE, row)] if row is not None else []
        for file, row in where + [(EVENTS_FILE, e.row) for e in file_events]:
            self._problem(file, row, "study_id", message)

    def _check_site(self, values: dict | None, row: int | None, existing: Patient | None) -> None:
        """A site-restricted user imports only patients of their sites (another site's patients
        are reported by `_report_other_site` and never get here), and a new patient needs a site:
        the row's, else the default one (none for a user of several sites)."""
        if not values:
            return
        site = values.get("site") or (self.site_code if existing is None else "")
        if site:
            if self.allowed_site_codes is not None and site not in self.allowed_site_codes:
                self._problem(PATIENTS_FILE, row, "site", self._your_sites())
        elif existing is None:
            self._problem(
                PATIENTS_FILE,
                row,
                "site",
                (
                    f"is required for a new patient: {self._your_sites()}; name one of them in this column"
                    if self.allowed_site_codes
                    else self._your_sites()
                ),
            )

    def _check_events(
        self,
        file_events: list[_FileEvent],
        *,
        index_date: date | None,
        deaths: list[date],
        kept_events: list[ClinicalEvent],
        kept_contacts: list[FollowUpContact],
    ) -> None:
        kept_dates = [e.event_date for e in kept_events] + [c.contact_date for c in kept_contacts]
        kept_deaths = [e.event_date for e in kept_events if e.event_type == "death"]
        file_deaths: list[date] = []
        for event in sorted(file_events, key=lambda e: e.row):
            is_death = event.event_type == "death"
            # "One death at most" is reported on the later row; "nothing after death" on the event that
            # follows it, or on a new death preceding what the registry already holds.
            problems = rules.event_problems(
                event_type=event.event_type,
                event_date=event.event_date,
                target_vessel=event.target_vessel,
                # Unknown index date (reported on the patient row): skip the before-index check.
                index_date=index_date or date.min,
                today=self.today,
                death_date=None if is_death else (deaths[0] if deaths else None),
                other_death_date=next(iter(kept_deaths + file_deaths), None) if is_death else None,
                latest_other_date=max(kept_dates, default=None) if is_death else None,
            )
            for p in problems:
                self._problem(EVENTS_FILE, event.row, p.field, p.message)
            if is_death:
                file_deaths.append(event.event_date)

    # Planning -------------------------------------------------------------------------------

    def _plan_patient(self, study_id: str, values: dict | None, existing: Patient | None) -> None:
        if values is None:
            return
        new = {f: values[column] for column, f in PATIENT_FIELD_OF_COLUMN.items()}
        new["ics_imported_source"] = values.get("ics_source") or self._default_ics_source(values["ics"], existing)
        last_contact = values["last_contact_date"]
        if existing is None:
            site_code = values.get("site") or self.site_code
            self.plan.new_patients.append({"study_id": study_id, "site_code": site_code, **new})
            if last_contact is not None:
                self.plan.new_contacts.append((study_id, last_contact))
            return
        if values.get("site") and values["site"] != existing.site.code:
            new["site_code"] = values["site"]
        changed = {f: v for f, v in new.items() if f == "site_code" or getattr(existing, f) != v}
        if changed:
            self.plan.patient_updates.append((existing, changed))
        else:
            self.plan.patients_unchanged += 1
        self._plan_contact(study_id, existing, last_contact)

    def _default_ics_source(self, ics: float | None, existing: Patient | None) -> str:
        if existing is not None and ics == existing.ics_imported:
            return existing.ics_imported_source
        return IMPORT_SOURCE if ics is not None else ""

    def _plan_contact(self, study_id: str, existing: Patient, last_contact: date | None) -> None:
        current = next((c for c in self.db_contacts[existing.pk] if c.method == ContactMethod.REGISTRY_IMPORT), None)
        if current is None:
            if last_contact is not None:
                self.plan.new_contacts.append((study_id, last_contact))
        elif last_contact is None:
            self.plan.contact_removals.append(current)
        elif current.contact_date != last_contact:
            self.plan.contact_updates.append((current, last_contact))

    def _plan_events(self, file_events: list[_FileEvent]) -> None:
        for event in file_events:
            existing = self._db_event(event)
            if existing is None:
                self.plan.new_events.append(event)
            elif (existing.target_vessel, existing.verification == Verification.VERIFIED) != (
                event.target_vessel,
                event.verified,
            ):
                self.plan.event_updates.append((existing, event))
            else:
                self.plan.events_unchanged += 1

    @property
    def summary(self) -> dict:
        plan = self.plan
        return {
            "patients_created": len(plan.new_patients),
            "patients_updated": len(plan.patient_updates),
            "patients_unchanged": plan.patients_unchanged,
            "events_created": len(plan.new_events),
            "events_updated": len(plan.event_updates),
            "events_unchanged": plan.events_unchanged,
            "contacts_created": len(plan.new_contacts),
            "contacts_updated": len(plan.contact_updates),
            "contacts_removed": len(plan.contact_removals),
        }

    def _problem(self, file: str, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(ImportProblem(file, row, column, message))

    # Writing --------------------------------------------------------------------------------
    # See "The write lock" in the module docstring: `_prepare` does all the work of building rows
    # with no lock held; `write` then stores them in one short transaction.

    def write(self, before: Callable[[], None] | None = None, after: Callable[[dict], None] | None = None) -> None:
        """Store the plan, all or nothing. `before()` runs first and `after(summary)` last inside the
        write transaction."""
        statements = self._prepare()
        self.progress(80)
        with transaction.atomic():
            began = time.monotonic()
            if before is not None:
                before()
            self._check_unchanged_since_read()
            self._check_new_sites_still_missing()
            stored = _execute(statements)
            # The follow-up summary on the patient rows (lists and the worklist filter by it).
            services.follow_up_refresh([*(p.pk for p in self.db_patients.values()), *self.new_patient_ids.values()])
            if after is not None:
                after(self.summary)
        self.write_transaction_seconds = time.monotonic() - began
        logger.info(
            "registry import: %d rows stored; the write transaction took %.2f s", stored, self.write_transaction_seconds
        )

    def _check_unchanged_since_read(self) -> None:
        """The rows this import changes were read before its write transaction: lock them and
        refuse the whole import if anyone saved one of them since (their version moved on)."""
        plan = self.plan
        for model, rows in (
            (Patient, [p for p, _ in plan.patient_updates]),
            (FollowUpContact, [c for c, _ in plan.contact_updates] + plan.contact_removals),
            (ClinicalEvent, [e for e, _ in plan.event_updates]),
        ):
            read = {row.pk: row for row in rows}
            now: dict[int, int] = {}
            for chunk in _chunks(list(read)):
                now |= dict(model.objects.select_for_update().filter(pk__in=chunk).values_list("pk", "version"))
            for pk, row in read.items():
                if now.get(pk) != row.version:
                    study_id = row.study_id if isinstance(row, Patient) else row.patient.study_id
                    self._problem(
                        PATIENTS_FILE if model is not ClinicalEvent else EVENTS_FILE,
                        None,
                        None,
                        f"{study_id} was changed by someone else while this import was being checked. "
                        "Nothing was imported: run the import again.",
                    )
        if self.problems:
            raise ImportFailed(sorted(self.problems, key=_problem_order))

    def _check_new_sites_still_missing(self) -> None:
        """A site this import creates must not have been created by someone else meanwhile."""
        taken = Site.objects.filter(code__in=[s.code for s in self.new_sites]).values_list("code", flat=True)
        for code in sorted(taken):
            self._problem(
                PATIENTS_FILE,
                None,
                "site",
                f"site {code} was created by someone else while this import "
                "was being checked. Nothing was imported: run the import again.",
            )
        if self.problems:
            raise ImportFailed(sorted(self.problems, key=_problem_order))

    def _prepare(self) -> list["_Statement"]:
        """Every row this import stores, as database values, new rows with reserved primary keys."""
        plan = self.plan
        self.now = timezone.now()
        self.audit: list[AuditEntry] = []
        codes = {p["site_code"] for p in plan.new_patients} | {
            c["site_code"] for _, c in plan.patient_updates if "site_code" in c
        }
        sites = {s.code: s for s in Site.objects.filter(code__in=codes)}
        new_codes = sorted(codes - set(sites))
        ids = _reserve_ids(
            {
                Site: len(new_codes),
                Patient: len(plan.new_patients),
                FollowUpContact: len(plan.new_contacts),
                ClinicalEvent: len(plan.new_events),
            }
        )
        self.new_sites = [Site(pk=pk, code=code, name=code) for pk, code in zip(ids[Site], new_codes, strict=True)]
        sites |= {s.code: s for s in self.new_sites}
        statements = [_insert(Site, self.new_sites)]
        statements += self._prepare_patients(sites, ids[Patient])
        self.progress(70)
        patient_ids = {p.study_id: p.pk for p in self.db_patients.values()} | self.new_patient_ids
        statements += self._prepare_contacts(patient_ids, ids[FollowUpContact])
        statements += self._prepare_events(patient_ids, ids[ClinicalEvent])
        return [*statements, _insert(AuditEntry, self.audit)]

    def _prepare_patients(self, sites: dict[str, Site], ids: list[int]) -> list["_Statement"]:
        created = []
        for pk, values in zip(ids, self.plan.new_patients, strict=True):
            values = dict(values)
            created.append(Patient(pk=pk, site=sites[values.pop("site_code")], **values))
        for patient in created:
            self._audit(patient, patient.pk, diff({}, snapshot(patient)), PATIENTS_FILE)
        self.new_patient_ids = {p.study_id: p.pk for p in created}
        updated, fields = [], {"updated_at"}
        for read, changes in self.plan.patient_updates:
            patient = copy.copy(read)  # the row as read stays for `_check_unchanged_since_read`
            before = snapshot(patient)
            changes = dict(changes)
            if "site_code" in changes:
                patient.site = sites[changes.pop("site_code")]
                fields.add("site")
            for name, value in changes.items():
                setattr(patient, name, value)
            fields |= set(changes) | {"version"}
            patient.version += 1
            patient.updated_at = self.now
            updated.append(patient)
            self._audit(patient, patient.pk, diff(before, snapshot(patient)), PATIENTS_FILE)
        return [_insert(Patient, created), _update(Patient, updated, sorted(fields))]

    def _prepare_contacts(self, patient_ids: dict[str, int], ids: list[int]) -> list["_Statement"]:
        created = [
            FollowUpContact(
                pk=pk,
                patient_id=patient_ids[study_id],
                contact_date=day,
                method=ContactMethod.REGISTRY_IMPORT,
                vital_status=VitalStatus.UNKNOWN,
                created_by=self.user,
            )
            for pk, (study_id, day) in zip(ids, self.plan.new_contacts, strict=True)
        ]
        for contact in created:
            self._audit(contact, contact.patient_id, diff({}, snapshot(contact, CONTACT_AUDIT_FIELDS)), PATIENTS_FILE)
        updated = []
        for read, day in self.plan.contact_updates:
            contact = copy.copy(read)
            before = snapshot(contact, CONTACT_AUDIT_FIELDS)
            contact.contact_date = day
            contact.version += 1
            changes = diff(before, snapshot(contact, CONTACT_AUDIT_FIELDS))
            self._audit(contact, contact.patient_id, changes, PATIENTS_FILE)
            updated.append(contact)
        for contact in self.plan.contact_removals:
            self._audit(
                contact,
                contact.patient_id,
                diff(snapshot(contact, CONTACT_AUDIT_FIELDS), {}),
                PATIENTS_FILE,
                action=AuditEntry.Action.DELETE,
            )
        return [
            _delete(FollowUpContact, self.plan.contact_removals),
            _insert(FollowUpContact, created),
            _update(FollowUpContact, updated, ["contact_date", "version"]),
        ]

    def _prepare_events(self, patient_ids: dict[str, int], ids: list[int]) -> list["_Statement"]:
        created = []
        for pk, event in zip(ids, self.plan.new_events, strict=True):
            row = ClinicalEvent(
                pk=pk,
                patient_id=patient_ids[event.study_id],
                event_type=event.event_type,
                event_date=event.event_date,
                target_vessel=event.target_vessel,
                source=EventSource.REGISTRY_IMPORT,
                created_by=self.user,
            )
            self._set_verification(row, event.verified)
            created.append(row)
        for row in created:
            self._audit(row, row.patient_id, diff({}, snapshot(row, EVENT_AUDIT_FIELDS)), EVENTS_FILE)
        updated = []
        for read, event in self.plan.event_updates:
            row = copy.copy(read)
            before = snapshot(row, EVENT_AUDIT_FIELDS)
            row.target_vessel = event.target_vessel
            if (row.verification == Verification.VERIFIED) != event.verified:
                self._set_verification(row, event.verified)
            row.version += 1
            self._audit(row, row.patient_id, diff(before, snapshot(row, EVENT_AUDIT_FIELDS)), EVENTS_FILE)
            updated.append(row)
        return [
            _insert(ClinicalEvent, created),
            _update(
                ClinicalEvent,
                updated,
                ["target_vessel", "verification", "verified_by", "verified_at", "source_document", "version"],
            ),
        ]

    def _set_verification(self, row: ClinicalEvent, verified: bool) -> None:
        if verified:
            row.verification, row.verified_by, row.verified_at = Verification.VERIFIED, self.user, self.now
            row.source_document = row.source_document or IMPORT_SOURCE
        else:
            row.verification, row.verified_by, row.verified_at = Verification.PENDING, None, None

    def _audit(self, instance, patient_id: int, changes: dict, file: str, action: str = AuditEntry.Action.IMPORT) -> None:
        self.audit.append(
            audit_entry(
                user=self.user,
                action=action,
                instance=instance,
                patient_id=patient_id,
                changes=changes,
                reason=f"registry import {file}",
                at=self.now,
            )
        )


# Prepared statements: rows as database values, stored with executemany -----------------------


@dataclass
class _Statement:
    sql: str
    rows: list[tuple]


def _insert(model, objects: list) -> _Statement:
    """INSERT the objects as they are (the primary key too, when they have one), like bulk_create."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or (objects and objects[0].pk is not None)]
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 - quoted names from the models, values as parameters
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    return _Statement(
        sql, [tuple(f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields) for obj in objects]
    )


def _update(model, objects: list, field_names: list[str]) -> _Statement:
    """UPDATE `field_names` of each object to its current values, by primary key."""
    fields, pk = [model._meta.get_field(name) for name in field_names], model._meta.pk
    qn = connection.ops.quote_name
    sql = (
        f"UPDATE {qn(model._meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in fields)} "  # noqa: S608 - quoted names from the models, values as parameters
        f"WHERE {qn(pk.column)} = %s"
    )
    return _Statement(
        sql, [(*(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields), obj.pk) for obj in objects]
    )


def _delete(model, objects: list) -> _Statement:
    qn = connection.ops.quote_name
    return _Statement(
        f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(model._meta.pk.column)} = %s",  # noqa: S608 - quoted names from the models, values as parameters
        [(obj.pk,) for obj in objects],
    )


def _execute(statements: list[_Statement]) -> int:
    with connection.cursor() as cursor:
        for statement in statements:
            if statement.rows:
                cursor.executemany(statement.sql, statement.rows)
    return sum(len(s.rows) for s in statements)


def _reserve_ids(counts: dict[type[models.Model], int]) -> dict[type[models.Model], list[int]]:
    """Primary keys for new rows that no other writer will take, reserved in a transaction of their
    own (milliseconds), so that rows and the audit entries naming them are built before the write
    transaction. An import that fails afterwards leaves a gap, as a rolled-back insert does."""
    ids = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for model, count in counts.items():
            pk_column = model._meta.pk.column
            assert pk_column is not None  # a primary key is a concrete column
            ids[model] = _reserve(cursor, model._meta.db_table, pk_column, count) if count else []
    return ids


def _reserve(cursor, table: str, column: str, count: int) -> list[int]:
    if connection.vendor == "postgresql":
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, column, count])
        return [pk for (pk,) in cursor.fetchall()]
    if connection.vendor != "sqlite":
        raise NotImplementedError(f"registry import: reserving primary keys on {connection.vendor}")
    # With AUTOINCREMENT (Django's SQLite primary keys), SQLite gives a new row a key above both the
    # largest key and sqlite_sequence; raising sqlite_sequence keeps the reserved keys for us.
    cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table])
    if "AUTOINCREMENT" not in cursor.fetchone()[0].upper():
        raise RuntimeError(f"registry import: {table} has no AUTOINCREMENT key; keys cannot be reserved")
    qn = connection.ops.quote_name
    cursor.execute(f"SELECT MAX({qn(column)}) FROM {qn(table)}")  # noqa: S608 - quoted names from the models, values as parameters
    largest = cursor.fetchone()[0] or 0
    cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    sequence = cursor.fetchone()
    last = max(largest, sequence[0] if sequence else 0)
    if sequence:
        cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [last + count, table])
    else:
        cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last + count])
    return list(range(last + 1, last + count + 1))


def _chunks(items: list, size: int = BATCH_SIZE) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Background job for the web -------------------------------------------------------------------


def import_job_start(*, user, patients_file, events_file=None) -> ImportJob:
    """Store the uploaded files on a new ImportJob and run the import in the background."""
    if user is not None:  # None: the system (command line, scripts); the web always passes its user
        require_role(user, IMPORT_EXPORT)
    with transaction.atomic():
        job = ImportJob(created_by=user)
        job.patients_file.save(PATIENTS_FILE, patients_file, save=False)
        if events_file is not None:
            job.events_file.save(EVENTS_FILE, events_file, save=False)
        job.save()
        jobs.enqueue(job, "registry.tasks.import_job_run_task")
    return job


def import_job_run(*, job_id: int) -> None:
    """Run a queued import (a core.jobs job): read the stored files, import, record the outcome.

    Problems in the files -> failed with `problems`; an unexpected error -> failed with a readable
    `error`, then re-raised for the worker's log. The import commits only while this worker holds
    the job, so a job re-queued after its worker stopped is imported exactly once."""

    def body(run: jobs.JobRun) -> None:
        job = ImportJob.objects.select_related("created_by").get(pk=run.pk)
        try:
            registry_import(
                user=job.created_by,
                patients_csv=_stored_text(job.patients_file),
                events_csv=_stored_text(job.events_file) if job.events_file else None,
                progress=run.progress,
                before_write=run.hold,
                after_write=lambda summary: run.commit(summary=summary),
            )
        except ImportFailed as exc:
            raise jobs.JobFailed("", problems=[p.as_dict() for p in exc.problems]) from exc

    jobs.run_job(
        ImportJob,
        job_id,
        body,
        unexpected=lambda exc: (
            f"The import stopped because of an unexpected error ({type(exc).__name__}: {exc}). "
            "Nothing was imported. Please tell the registry administrator."
        ),
    )


def _stored_text(stored_file) -> TextIO:
    with stored_file.open("rb") as f:
        data = f.read()
    # Decoding happens on read, so a non-UTF-8 file becomes an import problem, not a crash.
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
