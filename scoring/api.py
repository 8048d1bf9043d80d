"""The pullback API (/api/pullbacks/): upload, status and progress, results, calcium map, frame
images, segment ICS, retry and quality control. Same roles as the pages: coordinators and
admins upload and review; every registry role sees scores; frame images (they may carry
burned-in identifiers) only for roles that may see identifiers."""

from typing import TYPE_CHECKING

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from core.api import ApiView, valid_input
from core.api_parsers import DepthLimitedJSONParser
from core.lazy import lazy_module
from core.roles import EDIT_REGISTRY, SEE_IDENTIFIERS, VIEW_PATIENTS, can_see_identifiers
from registry.access import patient_get_for_user
from scoring import selectors
from scoring.detector import calcium_map
from scoring.models import ExclusionReason, Pullback, QcStatus
from scoring.uploads import pullback_upload_handlers, upload_too_large

if TYPE_CHECKING:
    from scoring import services
else:  # pydicom loads with the first use, not with the URLconf or the admin (core/lazy.py)
    services = lazy_module("scoring.services")

SEE_FRAMES = SEE_IDENTIFIERS
# Positions along a pullback (mm): far beyond any catheter's travel, small enough that mm / frame
# spacing stays a finite number of frames.
MAX_POSITION_MM = 10_000


class PullbackOutputSerializer(serializers.Serializer):
    """A pullback (a :class:`scoring.selectors.PullbackRow`) with the status and progress of its
    latest run and its current ICS. Original file name, acquisition date and QC note only with
    ``context={"identifiers": True}`` (roles that may see identifiers)."""

    IDENTIFYING = ("original_filename", "acquisition_date", "qc_note")  # names and dates may identify

    id = serializers.IntegerField(source="pullback.pk")
    study_id = serializers.CharField(source="pullback.patient.study_id")
    n_frames = serializers.IntegerField(source="pullback.n_frames")
    frame_rate_hz = serializers.FloatField(source="pullback.frame_rate_hz")
    pullback_speed_mm_s = serializers.FloatField(source="pullback.pullback_speed_mm_s")
    pullback_speed_assumed = serializers.BooleanField(source="pullback.pullback_speed_assumed")
    length_mm = serializers.FloatField(source="pullback.length_mm")
    pixel_spacing_mm = serializers.FloatField(source="pullback.pixel_spacing_mm", allow_null=True)
    calibrated = serializers.BooleanField(source="pullback.calibrated")
    rows = serializers.IntegerField(source="pullback.rows")
    columns = serializers.IntegerField(source="pullback.columns")
    manufacturer = serializers.CharField(source="pullback.manufacturer")
    model_name = serializers.CharField(source="pullback.model_name")
    qc_status = serializers.CharField(source="pullback.qc_status")
    exclusion_reason = serializers.CharField(source="pullback.exclusion_reason")
    study_override = serializers.BooleanField(source="pullback.study_override")
    analyzable = serializers.BooleanField()
    status = serializers.CharField(
        source="latest.status", allow_null=True, help_text="queued, running, succeeded or failed (latest run)"
    )
    progress_percent = serializers.IntegerField(source="latest.progress_percent", default=0)
    error = serializers.CharField(source="latest.error", default="")
    run_id = serializers.IntegerField(source="latest.pk", allow_null=True)
    ics = serializers.FloatField(source="current.ics", allow_null=True)
    model_version = serializers.CharField(source="current.model_version", allow_null=True)
    original_filename = serializers.CharField(source="pullback.original_filename", required=False)
    acquisition_date = serializers.DateField(source="pullback.acquisition_date", required=False, allow_null=True)
    qc_note = serializers.CharField(source="pullback.qc_note", required=False)
    duplicate = serializers.BooleanField(required=False, help_text="upload only: the file was already stored")

    class Meta:
        ref_name = "Pullback"

    def get_fields(self):
        fields = super().get_fields()
        fields.pop("duplicate")  # added by the upload, not read from the row
        if not self.context.get("identifiers"):
            for name in self.IDENTIFYING:
                fields.pop(name)
        return fields


_UPLOAD = inline_serializer("PullbackUpload", {"file": serializers.FileField()})


class PullbackApi(ApiView):
    def pullback(self, pk: int) -> Pullback:
        return selectors.pullback_get_for_user(user=self.request.user, pullback_id=pk)

    def data(self, pullback: Pullback) -> dict:
        return self.row_data(selectors.pullback_row(pullback))

    def row_data(self, row: selectors.PullbackRow) -> dict:
        context = {"identifiers": can_see_identifiers(self.request.user)}
        return PullbackOutputSerializer(row, context=context).data


class PullbackListUploadApi(PullbackApi):
    """GET the patient's pullbacks; POST multipart ``file`` (one DICOM file) to upload it."""

    roles = {"GET": VIEW_PATIENTS, "POST": EDIT_REGISTRY}
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body: stream to a temporary file, stop at the size limit.
        request.upload_handlers = pullback_upload_handlers(request)
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(responses=PullbackOutputSerializer(many=True))
    def get(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        return Response([self.row_data(row) for row in selectors.pullback_rows_for_patient(patient)])

    @extend_schema(
        request={"multipart/form-data": _UPLOAD},
        responses={
            201: PullbackOutputSerializer,
            200: OpenApiResponse(PullbackOutputSerializer, description="already uploaded"),
            400: OpenApiResponse(description="not a usable IVUS DICOM file: {file: [message]}"),
            413: OpenApiResponse(description="larger than PULLBACK_MAX_UPLOAD_BYTES"),
        },
    )
    def post(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        uploaded = request.FILES.get("file")
        if upload_too_large(request):
            limit = settings.PULLBACK_MAX_UPLOAD_BYTES
            return Response(
                {"file": [f"The file is larger than the upload limit of {limit // 2**20} MB."]},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        if uploaded is None:
            return Response({"file": ["Attach a DICOM file as the multipart field 'file'."]}, status=400)
        outcome = services.pullback_upload(user=request.user, patient=patient, uploaded_file=uploaded)
        body = self.data(outcome.pullback) | {"duplicate": outcome.duplicate}
        return Response(body, status=status.HTTP_200_OK if outcome.duplicate else status.HTTP_201_CREATED)


class PullbackDetailApi(PullbackApi):
    """Metadata, status and progress of the latest run, the current ICS."""

    roles = {"GET": VIEW_PATIENTS}

    @extend_schema(responses=PullbackOutputSerializer)
    def get(self, request, pk: int):
        return Response(self.data(self.pullback(pk)))


def _current_or_404(pullback: Pullback):
    from django.http import Http404

    run = selectors.current_run(pullback)
    if run is None:
        raise Http404("The pullback has no score yet.")
    return run


class PullbackResultsApi(PullbackApi):
    """The current run's ICS, per-frame calcium A-lines and arc (degrees) along the pullback."""

    roles = {"GET": VIEW_PATIENTS}

    class OutputSerializer(serializers.Serializer):
        pullback = serializers.IntegerField()
        run = serializers.IntegerField()
        ics = serializers.FloatField()
        frames = serializers.IntegerField()
        alines = serializers.IntegerField()
        calcium_alines = serializers.IntegerField()
        length_mm = serializers.FloatField()
        model_version = serializers.CharField()
        seconds = serializers.FloatField()
        position_mm = serializers.ListField(child=serializers.FloatField())
        calcium_alines_per_frame = serializers.ListField(child=serializers.IntegerField())
        arc_deg_per_frame = serializers.ListField(child=serializers.FloatField())

        class Meta:
            ref_name = "PullbackResults"

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk: int):
        pullback = self.pullback(pk)
        run = _current_or_404(pullback)
        positions = calcium_map.positions_mm(run.n_frames, frame_spacing_mm=pullback.frame_spacing_mm)
        return Response(
            {
                "pullback": pullback.pk,
                "run": run.pk,
                "ics": run.ics,
                "frames": run.n_frames,
                "alines": run.n_alines,
                "calcium_alines": run.calcium_alines,
                "length_mm": pullback.length_mm,
                "model_version": run.model_version,
                "seconds": run.seconds,
                "position_mm": [round(x, 4) for x in positions.tolist()],
                "calcium_alines_per_frame": run.calcium_alines_per_frame,
                "arc_deg_per_frame": run.arc_deg_per_frame,
            }
        )


class PullbackCalciumMapApi(PullbackApi):
    """The calcium map: ``map[frame][k]`` is 1 when A-line k (angle 2*pi*k/alines CCW from +x) is calcium."""

    roles = {"GET": VIEW_PATIENTS}

    class OutputSerializer(serializers.Serializer):
        frames = serializers.IntegerField()
        alines = serializers.IntegerField()
        frame_spacing_mm = serializers.FloatField()
        map = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))

        class Meta:
            ref_name = "PullbackCalciumMap"

    @extend_schema(responses=OutputSerializer)
    def get(self, request, pk: int):
        pullback = self.pullback(pk)
        run = _current_or_404(pullback)
        return Response(
            {
                "frames": run.n_frames,
                "alines": run.n_alines,
                "frame_spacing_mm": pullback.frame_spacing_mm,
                "map": run.labels().astype(int).tolist(),
            }
        )


class PullbackSegmentIcsApi(PullbackApi):
    """Lesion ICS of the frames between start_mm and end_mm, from the stored map (no re-scoring)."""

    roles = {"GET": VIEW_PATIENTS}

    class InputSerializer(serializers.Serializer):
        start_mm = serializers.FloatField(min_value=0, max_value=MAX_POSITION_MM)
        end_mm = serializers.FloatField(min_value=0, max_value=MAX_POSITION_MM)

        def validate(self, attrs):
            if attrs["end_mm"] < attrs["start_mm"]:
                raise serializers.ValidationError({"end_mm": "The segment's end must not lie before its start."})
            return attrs

        class Meta:
            ref_name = "SegmentIcsInput"

    class OutputSerializer(serializers.Serializer):
        start_mm = serializers.FloatField()
        end_mm = serializers.FloatField()
        frames = serializers.IntegerField()
        first_frame = serializers.IntegerField(allow_null=True)
        last_frame = serializers.IntegerField(allow_null=True)
        ics = serializers.FloatField(allow_null=True)
        calcium_alines = serializers.IntegerField()
        max_arc_deg = serializers.FloatField()

        class Meta:
            ref_name = "SegmentIcs"

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request, pk: int):
        params = valid_input(self.InputSerializer, request.query_params)
        pullback = self.pullback(pk)
        run = _current_or_404(pullback)
        return Response(calcium_map.segment_ics(run.labels(), frame_spacing_mm=pullback.frame_spacing_mm, **params))


class PullbackRetryApi(PullbackApi):
    roles = {"POST": EDIT_REGISTRY}
    parser_classes = [DepthLimitedJSONParser]

    @extend_schema(request=None, responses={202: PullbackOutputSerializer})
    def post(self, request, pk: int):
        pullback = self.pullback(pk)
        run = selectors.latest_run(pullback)
        if run is None:
            services.scoring_run_start(pullback=pullback, user=request.user)
        else:
            services.scoring_run_retry(user=request.user, run=run)
        return Response(self.data(pullback), status=status.HTTP_202_ACCEPTED)


class PullbackQcApi(PullbackApi):
    roles = {"POST": EDIT_REGISTRY}

    class InputSerializer(serializers.Serializer):
        qc_status = serializers.ChoiceField(choices=QcStatus.choices)
        exclusion_reason = serializers.ChoiceField(choices=ExclusionReason.choices, required=False, allow_blank=True)
        note = serializers.CharField(required=False, allow_blank=True)

        class Meta:
            ref_name = "PullbackQcInput"

    @extend_schema(request=InputSerializer, responses=PullbackOutputSerializer)
    def post(self, request, pk: int):
        params = valid_input(self.InputSerializer, request.data)
        pullback = services.pullback_qc_update(user=request.user, pullback=self.pullback(pk), **params)
        return Response(self.data(pullback))


class PullbackFrameApi(PullbackApi):
    """PNG of one frame with the detected calcium arcs drawn over it."""

    roles = {"GET": SEE_FRAMES}

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request, pk: int, frame: int):
        from scoring.selectors import frame_png

        pullback = self.pullback(pk)
        if not 0 <= frame < pullback.n_frames:
            return Response({"detail": f"Frame {frame} is not in 0..{pullback.n_frames - 1}."}, status=404)
        response = HttpResponse(frame_png(pullback, frame), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class PullbackLmodeApi(PullbackApi):
    """PNG of the longitudinal (L-mode) cut at ``angle_deg``: rows run along the diameter from the
    edge at that angle (top) through the catheter to the opposite edge, columns along the pullback
    (at most 800, evenly spaced frames); the current run's calcium at those two angles as orange
    bands at the top and bottom edges. Same roles as the frame images."""

    roles = {"GET": SEE_FRAMES}

    class InputSerializer(serializers.Serializer):
        angle_deg = serializers.IntegerField(min_value=0, max_value=359, default=0)

        class Meta:
            ref_name = "LmodeInput"

    @extend_schema(parameters=[InputSerializer], responses={(200, "image/png"): OpenApiTypes.BINARY, 304: None})
    def get(self, request, pk: int):
        angle_deg = valid_input(self.InputSerializer, request.query_params)["angle_deg"]
        pullback = self.pullback(pk)
        run = selectors.current_run(pullback)
        # The stored file never changes; a re-score changes the calcium bands.
        etag = f'"lmode-{pullback.content_sha256[:16]}-{run.pk if run else 0}-{angle_deg}"'
        if etag in request.headers.get("If-None-Match", ""):
            response = HttpResponse(status=304)
        else:
            try:
                response = HttpResponse(selectors.lmode_png(pullback, angle_deg), content_type="image/png")
            except FileNotFoundError:
                return Response({"detail": "The pullback's file is not available."}, status=404)
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=3600"
        return response


# Calcium annotations --------------------------------------------------------------------------


class AnnotationOutputSerializer(serializers.Serializer):
    """A calcium arc on one frame: counter-clockwise from start_deg to end_deg (degrees from
    3 o'clock towards the top as displayed; may wrap through 0; equal ends = full circle), or a
    frame marked as reviewed without calcium (no_calcium, both angles 0)."""

    id = serializers.IntegerField()
    pullback = serializers.IntegerField(source="pullback_id")
    frame = serializers.IntegerField()
    start_deg = serializers.FloatField()
    end_deg = serializers.FloatField()
    no_calcium = serializers.BooleanField()
    created_by = serializers.CharField(source="created_by.username", default="", allow_null=True)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "CalciumAnnotation"


class PullbackAnnotationListCreateApi(PullbackApi):
    """GET the pullback's annotations (optionally ``?frame=N``); POST one arc."""

    roles = {"GET": SEE_FRAMES, "POST": EDIT_REGISTRY}

    class InputSerializer(serializers.Serializer):
        frame = serializers.IntegerField(min_value=0)
        start_deg = serializers.FloatField(default=0.0)
        end_deg = serializers.FloatField(default=0.0)
        no_calcium = serializers.BooleanField(default=False)

        class Meta:
            ref_name = "CalciumAnnotationInput"

    @extend_schema(responses=AnnotationOutputSerializer(many=True))
    def get(self, request, pk: int):
        from scoring.annotations import annotation_list

        rows = annotation_list(self.pullback(pk)).select_related("created_by")
        frame = request.query_params.get("frame")
        if frame is not None:
            # ASCII digits only ("²".isdigit() is true, int("²") fails), and short enough for the database.
            if not (frame.isascii() and frame.isdigit() and len(frame) <= 9):
                return Response({"frame": ["A whole frame number."]}, status=400)
            rows = rows.filter(frame=int(frame))
        return Response(AnnotationOutputSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: AnnotationOutputSerializer})
    def post(self, request, pk: int):
        from scoring.annotations import annotation_add

        params = valid_input(self.InputSerializer, request.data)
        annotation = annotation_add(user=request.user, pullback=self.pullback(pk), **params)
        return Response(AnnotationOutputSerializer(annotation).data, status=status.HTTP_201_CREATED)


class PullbackAnnotationDeleteApi(PullbackApi):
    roles = {"DELETE": EDIT_REGISTRY}

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int, annotation_pk: int):
        from django.shortcuts import get_object_or_404

        from scoring.annotations import annotation_delete

        annotation = get_object_or_404(self.pullback(pk).annotations, pk=annotation_pk)
        annotation_delete(user=request.user, annotation=annotation)
        return Response(status=status.HTTP_204_NO_CONTENT)
