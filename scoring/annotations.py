"""Calcium annotations: add, delete, CSV import/export (audited) and the annotated training data.

An annotation is a calcium arc on one frame (angles as in scoring.detector.arcs), or a "no calcium" mark
that says the frame was reviewed and holds no calcium. Only annotated frames count for
training: a frame with arcs is positive on the A-lines inside them and negative elsewhere; a
"no calcium" frame is negative everywhere; frames without any annotation are left out (never
assumed negative: a reviewer may simply not have got to them).

CSV format (``annotations.csv``): UTF-8, a header row, columns ``pullback, frame, start_deg,
end_deg`` (pullback = Pullback id, frame 0-based) and optionally ``no_calcium`` (0/1). The import
is all or nothing, with row/column/rule messages like the registry import.
"""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction

from core.roles import EDIT_REGISTRY, acting_user, require_role
from registry import csv_io
from registry.audit import audit_record, snapshot
from registry.csv_io import Column, CsvProblem
from registry.models import AuditEntry
from scoring.detector.arcs import annotated_frames, annotation_labels
from scoring.models import CalciumAnnotation, Pullback

ANNOTATIONS_FILE = "annotations.csv"
ANNOTATION_COLUMNS = (
    Column("pullback", "number", required=True),
    Column("frame", "number", required=True),
    Column("start_deg", "number", required=True),
    Column("end_deg", "number", required=True),
)
ANNOTATION_OPTIONAL_COLUMNS = (Column("no_calcium", "flag"),)
AUDIT_FIELDS = ["pullback", "frame", "start_deg", "end_deg", "no_calcium"]
MAX_IMPORT_ROWS = 200_000


class AnnotationImportFailed(Exception):
    """The file has problems; nothing was imported. ``.problems`` lists every one (CsvProblem)."""

    def __init__(self, problems: list[CsvProblem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) found; nothing was imported")


# Rules ----------------------------------------------------------------------------------------


def annotation_problems(*, n_frames: int, frame, start_deg, end_deg, no_calcium: bool) -> dict[str, str]:
    """{field: message} of one annotation against its pullback's frame count; empty when valid."""
    problems = {}
    if frame is None or frame != int(frame) or not 0 <= frame < n_frames:
        problems["frame"] = f"must be a whole frame number in 0..{n_frames - 1} (got {_fmt(frame)})"
    for name, value in (("start_deg", start_deg), ("end_deg", end_deg)):
        if value is None or not 0 <= value < 360:
            problems[name] = f"must be an angle in degrees, at least 0 and below 360 (got {_fmt(value)})"
    if no_calcium and not problems and (start_deg != 0 or end_deg != 0):
        problems["no_calcium"] = "a frame marked as free of calcium has no arc: start_deg and end_deg must both be 0"
    return problems


def _fmt(value) -> str:
    return "nothing" if value is None else csv_io.format_value(value)


# Writes -------------------------------------------------------------------------------------


def annotation_add(
    *, user, pullback: Pullback, frame: int, start_deg: float, end_deg: float, no_calcium: bool = False
) -> CalciumAnnotation:
    """Store one arc (or a "no calcium" mark) on a frame; audited on the pullback's patient."""
    require_role(user, EDIT_REGISTRY)
    problems = annotation_problems(
        n_frames=pullback.n_frames, frame=frame, start_deg=start_deg, end_deg=end_deg, no_calcium=no_calcium
    )
    if problems:
        raise ValidationError({k: [v[0].upper() + v[1:] + "."] for k, v in problems.items()})
    with transaction.atomic():
        annotation = _create(
            user, pullback, int(frame), float(start_deg), float(end_deg), bool(no_calcium), reason="annotation"
        )
    return annotation


def _create(
    user, pullback: Pullback, frame: int, start_deg: float, end_deg: float, no_calcium: bool, *, reason: str
) -> CalciumAnnotation:
    annotation = CalciumAnnotation.objects.create(
        pullback=pullback,
        frame=frame,
        start_deg=start_deg,
        end_deg=end_deg,
        no_calcium=no_calcium,
        created_by=acting_user(user),
    )
    audit_record(
        user=user,
        action=AuditEntry.Action.CREATE,
        instance=annotation,
        patient=pullback.patient,
        changes={k: [None, v] for k, v in snapshot(annotation, AUDIT_FIELDS).items()},
        reason=reason,
    )
    return annotation


def annotation_delete(*, user, annotation: CalciumAnnotation, reason: str = "") -> None:
    """Delete one annotation; the audit entry keeps what it was."""
    require_role(user, EDIT_REGISTRY)
    with transaction.atomic():
        old = snapshot(annotation, AUDIT_FIELDS)
        pk = annotation.pk
        audit_record(
            user=user,
            action=AuditEntry.Action.DELETE,
            instance=annotation,
            patient=annotation.pullback.patient,
            changes={k: [v, None] for k, v in old.items()},
            reason=(reason or "").strip() or "annotation deleted",
        )
        annotation.delete()
        annotation.pk = pk


def annotations_import_csv(*, user, file_obj, pullbacks) -> int:
    """Import ``annotations.csv`` (text) for pullbacks of ``pullbacks`` (the user's visible ones).

    All or nothing: every problem is collected (row, column, rule) and raised as
    :class:`AnnotationImportFailed` before anything is written. Returns the rows written.
    """
    require_role(user, EDIT_REGISTRY)
    table = csv_io.read_table(
        file_obj, file=ANNOTATIONS_FILE, columns=ANNOTATION_COLUMNS, optional_columns=ANNOTATION_OPTIONAL_COLUMNS
    )
    problems = list(table.problems)
    if len(table.rows) > MAX_IMPORT_ROWS:
        problems.append(CsvProblem(ANNOTATIONS_FILE, None, None, f"has {len(table.rows)} rows; at most {MAX_IMPORT_ROWS}"))
    if problems and not table.readable:
        raise AnnotationImportFailed(problems)
    ids = {
        int(v["pullback"]) for _, v in table.rows if v.get("pullback") is not None and v["pullback"] == int(v["pullback"])
    }
    known = {p.pk: p for p in pullbacks.filter(pk__in=ids).select_related("patient")}
    rows = []
    for row, values in table.rows:
        checked = _import_row(row, values, known, problems)
        if checked is not None:
            rows.append(checked)
    if problems:
        raise AnnotationImportFailed(sorted(problems, key=_problem_order))
    with transaction.atomic():
        for pullback, frame, start_deg, end_deg, no_calcium in rows:
            _create(user, pullback, frame, start_deg, end_deg, no_calcium, reason=f"annotation import {ANNOTATIONS_FILE}")
    return len(rows)


def _import_row(row: int, values: dict, known: dict, problems: list) -> tuple | None:
    if any(values.get(c.name) is None for c in ANNOTATION_COLUMNS):
        return None  # the cell's own problem is already listed
    pullback_id = values["pullback"]
    pullback = known.get(int(pullback_id)) if pullback_id == int(pullback_id) else None
    if pullback is None:
        problems.append(
            CsvProblem(ANNOTATIONS_FILE, row, "pullback", f"no pullback {_fmt(pullback_id)} that you may annotate")
        )
        return None
    no_calcium = bool(values.get("no_calcium"))
    found = annotation_problems(
        n_frames=pullback.n_frames,
        frame=values["frame"],
        start_deg=values["start_deg"],
        end_deg=values["end_deg"],
        no_calcium=no_calcium,
    )
    problems += [CsvProblem(ANNOTATIONS_FILE, row, column, message) for column, message in found.items()]
    if found:
        return None
    return pullback, int(values["frame"]), float(values["start_deg"]), float(values["end_deg"]), no_calcium


_COLUMN_ORDER = {c.name: i for i, c in enumerate((*ANNOTATION_COLUMNS, *ANNOTATION_OPTIONAL_COLUMNS))}


def _problem_order(p: CsvProblem) -> tuple[int, int]:
    return p.row or 0, _COLUMN_ORDER.get(p.column or "", -1)


def annotations_export_csv(*, out, pullbacks) -> int:
    """Write the annotations of ``pullbacks`` in the import format; returns the rows written."""
    rows = CalciumAnnotation.objects.filter(pullback__in=pullbacks).order_by("pullback", "frame", "start_deg", "pk")
    columns = [c.name for c in (*ANNOTATION_COLUMNS, *ANNOTATION_OPTIONAL_COLUMNS)]
    return csv_io.write_rows(
        out,
        columns=columns,
        rows=(
            {
                "pullback": a.pullback_id,
                "frame": a.frame,
                "start_deg": a.start_deg,
                "end_deg": a.end_deg,
                "no_calcium": a.no_calcium,
            }
            for a in rows.iterator()
        ),
    )


def annotations_csv_text(*, pullbacks) -> str:
    out = io.StringIO()
    annotations_export_csv(out=out, pullbacks=pullbacks)
    return out.getvalue()


# Reads --------------------------------------------------------------------------------------


def annotation_list(pullback: Pullback):
    return CalciumAnnotation.objects.filter(pullback=pullback).order_by("frame", "start_deg", "pk")


@dataclass(frozen=True)
class AnnotatedPullback:
    """Training data of one annotated pullback.

    ``labels`` is (pullback frames x A-lines) bool; only the rows of ``frames`` (sorted 0-based
    indices of the annotated frames) are truth, the other rows are False and must be ignored."""

    pullback_id: int
    path: str
    labels: np.ndarray
    frames: np.ndarray


def pullback_training_labels(pullback: Pullback, *, n_alines: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels frames x A-lines, sorted annotated frame indices) of a pullback's annotations."""
    annotations = list(annotation_list(pullback).values_list("frame", "start_deg", "end_deg", "no_calcium"))
    arcs = [(f, s, e) for f, s, e, none in annotations if not none]
    labels = annotation_labels(arcs, pullback.n_frames, n_alines)
    mask = annotated_frames((a[0] for a in annotations), pullback.n_frames)
    return labels, np.flatnonzero(mask)


def annotated_training_data(pullbacks: Iterable[Pullback], *, n_alines: int = 256) -> Iterator[AnnotatedPullback]:
    """For each pullback with at least one annotation: its file path, labels and annotated frames.

    Excluded pullbacks are skipped. The path is valid until the next item is requested (a
    temporary download when the storage is remote), so features are computed in the loop::

        for item in annotated_training_data(Pullback.objects.all(), n_alines=256):
            features = features_of(item.path)[item.frames]; truth = item.labels[item.frames]
    """
    from scoring.services import stored_file_path

    for pullback in pullbacks:
        if pullback.qc_status != "included" or not pullback.annotations.exists():
            continue
        labels, frames = pullback_training_labels(pullback, n_alines=n_alines)
        with stored_file_path(pullback.file) as path:
            yield AnnotatedPullback(pullback.pk, path, labels, frames)
