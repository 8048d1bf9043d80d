"""Civil-registry checks: survival from the municipal civil registry (issue 12).

Two files, UTF-8 CSV with a header row and ISO dates (YYYY-MM-DD), as every file of `registry.csv_io`:

- the request (`write_export`): one row per living, not withdrawn patient, with what a civil
  registry matches on: `study_id, family_name, date_of_birth, sex, hospital_number`. Living means
  no death: the stored vital status is not "dead" and there is no death event other than a
  rejected one. Every export is audited (action "export", entity "civil_registry_export", the
  file name, how many patients and which site).
- the response (`import_response`): `study_id, vital_status, date_of_death, checked_on`, with
  vital_status alive, deceased or unknown; date_of_death required for deceased and empty
  otherwise; checked_on the day the registry was consulted.

The response is all or nothing: every row is checked first, against the file and the registry (the
rules of `registry.rules`, so the messages are those of the forms), and any problem means nothing
is written; the problems are listed as "row N: ..." (row 1 is the header). Then, in one
transaction and through `registry.services` only (validated and audited there):
- deceased: a death event from the civil registry, verified against "<file> row N"; a pending
  death already recorded is verified instead (its date corrected, with a reason, if the registry
  says otherwise); a verified death on the same date is left alone; one on another date is a
  problem of the row (a verified date is changed by hand, with a reason, not by a file);
- alive: a follow-up contact on checked_on, method "civil registry check", vital status alive,
  unless the patient has a civil-registry contact on that day already;
- unknown: nothing is written.
So the same file imported twice changes nothing the second time. A study ID the acting user may
not see (another site's patient) is reported as unknown: the file never tells whether it exists.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core.roles import IMPORT_EXPORT, require_role
from registry import csv_io, rules, services
from registry.access import patients_of_sites, sites_for_user, user_site_ids
from registry.audit import audit_file_export
from registry.csv_io import Column, CsvProblem, TextSink, TextSource
from registry.importer import ImportFailed
from registry.models import (
    ClinicalEvent,
    ContactMethod,
    DatePrecision,
    EventSource,
    EventType,
    FollowUpContact,
    Patient,
    Site,
    Verification,
    VitalStatus,
)

REQUEST_FILE = "civil_registry_request.csv"
REQUEST_COLUMNS = ("study_id", "family_name", "date_of_birth", "sex", "hospital_number")
EXPORT_ENTITY = "civil_registry_export"

ALIVE, DECEASED, UNKNOWN = "alive", "deceased", "unknown"
RESPONSE_COLUMNS = (
    Column("study_id", "text", required=True, max_length=40),
    # Any letter case is accepted ("Deceased"): the labels are the codes capitalised.
    Column(
        "vital_status", "choice", required=True, choices=(ALIVE, DECEASED, UNKNOWN), labels=("Alive", "Deceased", "Unknown")
    ),
    Column("date_of_death", "date"),
    Column("checked_on", "date", required=True),
)
_COLUMN_ORDER = {c.name: i for i, c in enumerate(RESPONSE_COLUMNS)}
# The file name goes into the source document reference of each death (at most 200 characters).
_MAX_FILE_NAME = 150
_CHUNK = 500

SUMMARY_LABELS = {
    "rows": "rows in the file",
    "deaths_recorded": "deaths recorded",
    "deaths_verified": "pending deaths verified",
    "deaths_already_known": "deaths already known",
    "alive_recorded": "alive contacts recorded",
    "alive_already_recorded": "alive contacts already recorded",
    "unknown": "vital status unknown (nothing recorded)",
}


# The request file ------------------------------------------------------------------------------


def living_patients(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Of these patients, those not withdrawn and not known to have died (a death event that is
    not rejected counts, pending or verified)."""
    deaths = ClinicalEvent.objects.filter(patient=OuterRef("pk"), event_type=EventType.DEATH).exclude(
        verification=Verification.REJECTED
    )
    return patients.filter(withdrawn_on__isnull=True).exclude(fu_vital_status=VitalStatus.DEAD).exclude(Exists(deaths))


def export_rows(patients: QuerySet[Patient]) -> list[Mapping[str, object]]:
    """The request file's rows for the living, not withdrawn ones of `patients`, by study_id.
    A patient without identifiers gets empty identifier cells."""
    return list(
        living_patients(patients)
        .order_by("study_id")
        .values(
            "study_id",
            "sex",
            family_name=models.F("identity__family_name"),
            date_of_birth=models.F("identity__date_of_birth"),
            hospital_number=models.F("identity__hospital_number"),
        )
    )


def _visible_patients(user) -> QuerySet[Patient]:
    """The patients `user` may see (None: the system, every patient)."""
    return patients_of_sites(None if user is None else user_site_ids(user))


def _site(user, code: str) -> Site:
    sites = Site.objects.all() if user is None else sites_for_user(user)
    found = sites.filter(code=code).first()
    if found is None:
        raise ValidationError({"site": f"unknown site {code}" + ("" if user is None else " (or not one of your sites)")})
    return found


def write_export(out: str | os.PathLike[str] | TextSink, *, user, site: str | None = None, file_name: str = "") -> int:
    """Write the request file (to a path, or to an open text file or HttpResponse) for the patients
    `user` may see (None: the system, every patient), of one site if `site` (a code) is given;
    audit it and return how many patients it lists. `file_name` names the file in the audit trail
    (default: the path's name, else REQUEST_FILE)."""
    if user is not None:
        require_role(user, IMPORT_EXPORT)
    patients = _visible_patients(user)
    if site:
        patients = patients.filter(site=_site(user, site))
    rows = export_rows(patients)
    if isinstance(out, str | os.PathLike):
        file_name = file_name or Path(out).name
        with open(out, "w", encoding="utf-8", newline="") as f:
            count = csv_io.write_rows(f, columns=REQUEST_COLUMNS, rows=rows)
    else:
        count = csv_io.write_rows(out, columns=REQUEST_COLUMNS, rows=rows)
    audit_file_export(
        user=user,
        entity=EXPORT_ENTITY,
        file_name=Path(file_name or REQUEST_FILE).name,
        changes={"patients": [None, count], "site": [None, site or "all"]},
    )
    return count


# The response file -------------------------------------------------------------------------------


class ResponseFailed(ImportFailed):
    """The response file has problems; nothing was written. `.problems` lists every one
    (csv_io.CsvProblem), `.messages` the same as "row N: ..." lines."""

    @property
    def messages(self) -> list[str]:
        return [problem_message(p) for p in self.problems]


def problem_message(problem: CsvProblem) -> str:
    """ "row 4: date_of_death: 2021-02-30 is not a valid date (YYYY-MM-DD)"; a problem of the whole
    file names the file instead of a row."""
    where = problem.file if problem.row is None else f"row {problem.row}"
    return f"{where}: {problem.column}: {problem.message}" if problem.column else f"{where}: {problem.message}"


@dataclass
class _Facts:
    """What the registry holds of one patient, as the rules need it."""

    patient: Patient
    death: ClinicalEvent | None = None  # the death that is not rejected (one at most)
    event_dates: list[date] = field(default_factory=list)  # other non-rejected events
    contact_dates: list[date] = field(default_factory=list)
    civil_registry_contacts: set[date] = field(default_factory=set)

    def latest_other_date(self) -> date | None:
        return max([*self.event_dates, *self.contact_dates], default=None)


@dataclass(frozen=True)
class _Step:
    """One row's write: `kind` is a key of the summary."""

    row: int
    kind: str
    facts: _Facts | None = None
    death_date: date | None = None
    checked_on: date | None = None


def import_response(file: TextSource, *, user, file_name: str) -> dict[str, int]:
    """Check the civil registry's response (text) and record it; all or nothing (module docstring).

    `user` acts (None: the system); `file_name` names the file in the messages, in each death's
    source document reference and in the reasons. Returns the summary (SUMMARY_LABELS' keys);
    raises ResponseFailed, with every problem, before anything is written."""
    if user is not None:
        require_role(user, IMPORT_EXPORT)
    file_name = Path(file_name).name[:_MAX_FILE_NAME] or "response.csv"
    table = csv_io.read_table(file, file=file_name, columns=RESPONSE_COLUMNS)
    check = _Check(user=user, file_name=file_name, today=timezone.localdate(), cell_problems=table.problems)
    if table.readable:
        check.rows(table.rows)
    if check.problems:
        raise ResponseFailed(sorted(check.problems, key=_problem_order))
    summary = dict.fromkeys(SUMMARY_LABELS, 0)
    summary["rows"] = len(table.rows)
    with transaction.atomic():
        for step in check.steps:
            _write(step, user=user, file_name=file_name)
            summary[step.kind] += 1
    return summary


def _problem_order(p: CsvProblem) -> tuple[int, int]:
    return p.row or 0, _COLUMN_ORDER.get(p.column or "", -1)


class _Check:
    """Checks every row and plans its write (`steps`); `problems` holds what is wrong."""

    def __init__(self, *, user, file_name: str, today: date, cell_problems: list[CsvProblem]):
        self.user, self.file_name, self.today = user, file_name, today
        self.problems = list(cell_problems)
        # Cells that did not parse are reported already: the rules skip them.
        self.bad_cells = {(p.row, p.column) for p in cell_problems}
        self.steps: list[_Step] = []

    def _problem(self, row: int, column: str | None, message: str) -> None:
        self.problems.append(CsvProblem(self.file_name, row, column, message))

    def rows(self, rows: list[tuple[int, dict]]) -> None:
        facts = self._load({values["study_id"] for _, values in rows if values["study_id"]})
        first_row: dict[str, int] = {}
        for row, values in rows:
            study_id = values["study_id"]
            if not study_id:
                continue  # reported as required
            if study_id in first_row:
                self._problem(
                    row, None, f"study_id {study_id} appears more than once in the file (first in row {first_row[study_id]})"
                )
                continue
            first_row[study_id] = row
            if study_id not in facts:
                self._problem(row, None, f"unknown study_id {study_id}: no patient that you may see has it")
                continue
            self._row(row, values, facts[study_id])

    def _load(self, study_ids: set[str]) -> dict[str, _Facts]:
        """The registry's facts of the patients with these study IDs that the user may see: a
        patient of another site is left out, as if it did not exist."""
        facts: dict[str, _Facts] = {}
        visible = _visible_patients(self.user)
        ordered = sorted(study_ids)
        for start in range(0, len(ordered), _CHUNK):
            facts |= {p.study_id: _Facts(p) for p in visible.filter(study_id__in=ordered[start : start + _CHUNK])}
        by_pk = {f.patient.pk: f for f in facts.values()}
        pks = sorted(by_pk)
        for start in range(0, len(pks), _CHUNK):
            chunk = pks[start : start + _CHUNK]
            for event in ClinicalEvent.objects.filter(patient_id__in=chunk).exclude(verification=Verification.REJECTED):
                f = by_pk[event.patient_id]
                if event.event_type == EventType.DEATH:
                    f.death = event
                else:
                    f.event_dates.append(event.event_date)
            for patient_id, day, method in FollowUpContact.objects.filter(patient_id__in=chunk).values_list(
                "patient_id", "contact_date", "method"
            ):
                by_pk[patient_id].contact_dates.append(day)
                if method == ContactMethod.CIVIL_REGISTRY:
                    by_pk[patient_id].civil_registry_contacts.add(day)
        return facts

    def _cell(self, row: int, values: dict, column: str) -> Any:
        """The parsed cell, or None when it is empty or did not parse (reported already)."""
        return None if (row, column) in self.bad_cells else values.get(column)

    def _row(self, row: int, values: dict, facts: _Facts) -> None:
        status = self._cell(row, values, "vital_status")
        died = self._cell(row, values, "date_of_death")
        checked_on = self._cell(row, values, "checked_on")
        found = len(self.problems)
        if status == DECEASED and died is None and (row, "date_of_death") not in self.bad_cells:
            self._problem(row, "date_of_death", "is required when vital_status is deceased")
        if status in (ALIVE, UNKNOWN) and died is not None:
            self._problem(row, "date_of_death", f"must be empty when vital_status is {status} (got {died.isoformat()})")
        if checked_on is not None:
            self._check_checked_on(row, checked_on, facts, alive=status == ALIVE)
        if status == DECEASED and died is not None:
            self._check_death(row, died, checked_on, facts)
        if status is None or len(self.problems) > found:
            return
        self.steps.append(self._plan(row, status, died, checked_on, facts))

    def _check_checked_on(self, row: int, checked_on: date, facts: _Facts, *, alive: bool) -> None:
        """Not before the index date, not in the future; an "alive" not after a recorded death."""
        death_date = facts.death.event_date if alive and facts.death is not None else None
        for p in rules.follow_up_date_problems(
            field="checked_on",
            value=checked_on,
            index_date=facts.patient.index_date,
            today=self.today,
            death_date=death_date,
        ):
            self._problem(row, "checked_on", p.message)

    def _check_death(self, row: int, died: date, checked_on: date | None, facts: _Facts) -> None:
        """The death against the day of the check and, through the event rules, against the index
        date, today and the patient's later contacts and events (nothing may follow death)."""
        if checked_on is not None and died > checked_on:
            self._problem(row, "date_of_death", f"{died.isoformat()} is after checked_on {checked_on.isoformat()}")
        death = facts.death
        if death is not None and death.verification == Verification.VERIFIED:
            if death.event_date != died:
                self._problem(
                    row,
                    "date_of_death",
                    f"{died.isoformat()} differs from the patient's verified death on {death.event_date.isoformat()}: "
                    "correct the verified death in the registry (with a reason) if the civil registry is right",
                )
            return  # the same verified death: nothing to check, nothing to write
        for p in rules.event_problems(
            event_type=EventType.DEATH,
            event_date=died,
            target_vessel=None,
            index_date=facts.patient.index_date,
            today=self.today,
            death_date=None,
            other_death_date=None,  # the patient's pending death is this one, verified and corrected
            latest_other_date=facts.latest_other_date(),
        ):
            self._problem(row, "date_of_death", p.message)

    @staticmethod
    def _plan(row: int, status: str, died: date | None, checked_on: date | None, facts: _Facts) -> _Step:
        if status == DECEASED:
            if facts.death is None:
                return _Step(row, "deaths_recorded", facts, death_date=died)
            if facts.death.verification == Verification.VERIFIED:
                return _Step(row, "deaths_already_known")
            return _Step(row, "deaths_verified", facts, death_date=died)
        if status == ALIVE:
            if checked_on in facts.civil_registry_contacts:
                return _Step(row, "alive_already_recorded")
            return _Step(row, "alive_recorded", facts, checked_on=checked_on)
        return _Step(row, "unknown")


def _write(step: _Step, *, user, file_name: str) -> None:
    """One row's write through the services. A rule they find (the registry changed since the
    check) fails the whole file, naming the row; the transaction undoes what was written."""
    document = f"{file_name} row {step.row}"
    try:
        if step.kind == "deaths_recorded":
            assert step.facts is not None and step.death_date is not None
            event = services.event_record(
                user=user,
                patient=step.facts.patient,
                data={
                    "event_type": EventType.DEATH,
                    "event_date": step.death_date,
                    "source": EventSource.CIVIL_REGISTRY,
                    "notes": "",
                },
            )
            services.event_verify(user=user, event=event, decision=Verification.VERIFIED, source_document=document)
        elif step.kind == "deaths_verified":
            assert step.facts is not None and step.facts.death is not None and step.death_date is not None
            event = _corrected(step.facts.death, step.death_date, user=user, reason=f"civil registry response {document}")
            services.event_verify(user=user, event=event, decision=Verification.VERIFIED, source_document=document)
        elif step.kind == "alive_recorded":
            assert step.facts is not None and step.checked_on is not None
            services.contact_record(
                user=user,
                patient=step.facts.patient,
                data={
                    "contact_date": step.checked_on,
                    "method": ContactMethod.CIVIL_REGISTRY,
                    "vital_status": VitalStatus.ALIVE,
                    "notes": "",
                },
            )
    except ValidationError as error:
        raise ResponseFailed([CsvProblem(file_name, step.row, None, message) for message in error.messages]) from error


def _corrected(death: ClinicalEvent, died: date, *, user, reason: str) -> ClinicalEvent:
    """The pending death with the civil registry's date, which is exact (a date known only to the
    month or year becomes a day)."""
    if (death.event_date, death.event_date_precision) == (died, DatePrecision.DAY):
        return death
    return services.event_update(
        user=user,
        event=death,
        data={"event_date": died, "event_date_precision": DatePrecision.DAY},
        reason=reason,
    )


def summary_text(summary: dict[str, int]) -> str:
    """The summary in one line of human words: "3 rows: 1 death recorded, ..." (zero counts left out)."""
    parts = [
        f"{count} {_singular(label) if count == 1 else label}"
        for key, label in SUMMARY_LABELS.items()
        if key != "rows" and (count := summary.get(key, 0))
    ]
    rows = summary.get("rows", 0)
    return f"{rows} row{'' if rows == 1 else 's'}: {', '.join(parts) if parts else 'nothing to record'}."


def _singular(label: str) -> str:
    return label.replace("deaths", "death").replace("contacts", "contact")


def summary_items(summary: dict[str, int]) -> list[tuple[str, int]]:
    """(label, count) pairs for a table, in SUMMARY_LABELS' order."""
    return [(label[:1].upper() + label[1:], summary.get(key, 0)) for key, label in SUMMARY_LABELS.items()]
