"""The analyses API under /api/analyses/: run a spec, poll a run, re-run it, live cohort counts and
saved cohorts. Same roles as the analysis data set (ANALYSIS_DATA); results are aggregates and
never carry a patient identifier. A bad spec is a 400 with the reason, never a 500."""

from typing import TYPE_CHECKING, ClassVar

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from analytics import dictionary, variables
from analytics.forms import COVARIATES
from analytics.models import AnalysisRun, SavedCohort
from analytics.variables import SpecError
from core.api import ApiView, Pagination
from core.api_parsers import JSONInputError, json_loads
from core.lazy import lazy_module
from core.roles import ANALYSIS_DATA
from registry import follow_up
from registry.follow_up import MAX_HORIZON_DAYS
from registry.selectors import analysis_columns

if TYPE_CHECKING:
    from analytics import selectors, services
else:  # pandas and scipy load with the first request, not with the URLconf (core/lazy.py)
    selectors, services = lazy_module("analytics.selectors"), lazy_module("analytics.services")

_ALL: dict[str, tuple[str, ...]] = {
    "GET": ANALYSIS_DATA,
    "POST": ANALYSIS_DATA,
    "PATCH": ANALYSIS_DATA,
    "DELETE": ANALYSIS_DATA,
}


class AnalysisApi(ApiView):
    """Base: ANALYSIS_DATA for every method; SpecError -> 400 {"detail": message}."""

    roles = _ALL

    def handle_exception(self, exc):
        if isinstance(exc, SpecError):
            exc = ValidationError({"detail": str(exc)})
        return super().handle_exception(exc)


# The spec as the schema documents it (so that clients and the schema fuzz test send spec-shaped
# bodies); services.analysis_spec_check is what validates it.


class FilterSchemaSerializer(serializers.Serializer):
    field = serializers.ChoiceField(
        choices=[c for c in analysis_columns() if c != "study_id"] + list(variables.DERIVED_INDICATORS),
        help_text="a column of the analysis data set",
    )
    op = serializers.ChoiceField(choices=variables.FILTER_OPS)
    value = serializers.JSONField(required=False, help_text="a value; a list for in, [low, high] for between")

    class Meta:
        ref_name = "CohortFilter"


@extend_schema_field(FilterSchemaSerializer(many=True))
class FiltersField(serializers.JSONField):
    """A list of filters, checked by the spec check (not by this field)."""


class AnalysisSpecSerializer(serializers.Serializer):
    class CohortSerializer(serializers.Serializer):
        filters = FiltersField(required=False)

        class Meta:
            ref_name = "AnalysisCohort"

    class GroupingSerializer(serializers.Serializer):
        variable = serializers.ChoiceField(choices=["ics", *variables.CATEGORICAL], required=False)
        cutoff = serializers.JSONField(required=False, help_text="median, tertiles, quartiles or an ICS 0-1000")

        class Meta:
            ref_name = "AnalysisGrouping"

    cohort = CohortSerializer(required=False)
    grouping = GroupingSerializer(required=False)
    endpoint = serializers.ChoiceField(choices=variables.ENDPOINTS, required=False)
    horizon_days = serializers.IntegerField(min_value=1, max_value=MAX_HORIZON_DAYS, required=False)
    covariates = serializers.ListField(child=serializers.ChoiceField(choices=COVARIATES), required=False)
    competing_event = serializers.ChoiceField(choices=["death"], required=False)
    count_pending = serializers.BooleanField(required=False)
    subgroup = serializers.ChoiceField(choices=variables.SUBGROUP_VARIABLES, required=False)

    class Meta:
        ref_name = "AnalysisSpec"


class AnalysisRunOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    # The codes of the sites whose patients the run used (its creator's sites); null: all sites.
    sites = serializers.ListField(child=serializers.CharField(), source="site_codes", allow_null=True)
    done = serializers.BooleanField()
    # queued / running / succeeded / failed (a plain string: avoids an enum name clash in the schema)
    status = serializers.CharField()
    # The run's spec in words (analytics.dictionary), as the pages title it.
    title = serializers.SerializerMethodField()

    class Meta:
        model = AnalysisRun
        fields: ClassVar[tuple[str, ...]] = (
            "id",
            "title",
            "status",
            "done",
            "progress_percent",
            "error",
            "spec",
            "data_hash",
            "versions",
            "n_patients",
            "sites",
            "created_by",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields
        ref_name = "AnalysisRun"

    def get_title(self, run) -> str:
        return dictionary.spec_summary(run.spec or {})


class AnalysisRunDetailSerializer(AnalysisRunOutputSerializer):
    # The stored result with a `label` (the data dictionary's words) next to every group, model
    # term, Table 1 variable and subgroup; `endpoint_label` and `title` at the top.
    result = serializers.SerializerMethodField()
    changes = serializers.SerializerMethodField()

    class Meta(AnalysisRunOutputSerializer.Meta):
        fields = (*AnalysisRunOutputSerializer.Meta.fields, "result", "changes")
        read_only_fields = fields
        ref_name = "AnalysisRunDetail"

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_result(self, run) -> dict | None:
        return None if run.result is None else dictionary.label_result(run.result)

    def get_changes(self, run) -> dict | None:
        changes = selectors.analysis_run_changes(run=run)
        if changes is not None:
            changes["previous_created_at"] = changes["previous_created_at"].isoformat()
            for number in changes["numbers"]:
                number["label"] = dictionary.key_number_label(number["name"], run.result or {})
        return changes


class AnalysisListCreateApi(AnalysisApi):
    """GET: the stored runs (no results). POST: a spec (the body) -> the run with its result (201),
    or queued for a worker when the registry is large (202; poll GET /api/analyses/<id>/)."""

    @extend_schema(responses=AnalysisRunOutputSerializer(many=True))
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.analysis_run_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(AnalysisRunOutputSerializer(page, many=True).data)

    @extend_schema(
        request=AnalysisSpecSerializer, responses={201: AnalysisRunDetailSerializer, 202: AnalysisRunDetailSerializer}
    )
    def post(self, request):
        run = services.analysis_run_start(spec=request.data, user=request.user)
        code = status.HTTP_201_CREATED if run.done else status.HTTP_202_ACCEPTED
        return Response(AnalysisRunDetailSerializer(run).data, status=code)


class AnalysisDetailApi(AnalysisApi):
    @extend_schema(responses=AnalysisRunDetailSerializer)
    def get(self, request, pk: int):
        run = selectors.analysis_run_get(user=request.user, run_id=pk)
        return Response(AnalysisRunDetailSerializer(run).data)


class AnalysisRerunApi(AnalysisApi):
    """The same spec on the current data; the new run's `changes` compares it with this one."""

    @extend_schema(request=None, responses={201: AnalysisRunDetailSerializer})
    def post(self, request, pk: int):
        run = selectors.analysis_run_get(user=request.user, run_id=pk)
        new = services.analysis_run_rerun(run=run, user=request.user)
        code = status.HTTP_201_CREATED if new.done else status.HTTP_202_ACCEPTED
        return Response(AnalysisRunDetailSerializer(new).data, status=code)


class CohortCountApi(AnalysisApi):
    """How many patients match `filters` (a JSON list of {field, op, value}), and how many have an ICS."""

    class FilterSerializer(serializers.Serializer):
        filters = serializers.CharField(required=False, default="[]")
        horizon_days = serializers.IntegerField(min_value=1, max_value=MAX_HORIZON_DAYS, default=follow_up.HORIZON_DAYS)
        count_pending = serializers.BooleanField(default=True)

        class Meta:
            ref_name = "CohortCountFilter"

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        with_ics = serializers.IntegerField()

        class Meta:
            ref_name = "CohortCount"

    @extend_schema(
        parameters=[
            OpenApiParameter("filters", str, description="JSON list of {field, op, value}"),
            OpenApiParameter("horizon_days", int),
            OpenApiParameter("count_pending", bool),
        ],
        responses=OutputSerializer,
    )
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            filters = json_loads(params.validated_data["filters"])
        except JSONInputError as exc:
            raise SpecError(f"filters must be a JSON list of {{field, op, value}} objects ({exc})") from None
        if not isinstance(filters, list):
            raise SpecError("filters must be a JSON list of {field, op, value} objects")
        counts = selectors.cohort_count(
            user=request.user,
            filters=filters,
            horizon_days=params.validated_data["horizon_days"],
            count_pending=params.validated_data["count_pending"],
        )
        return Response(self.OutputSerializer(counts).data)


class SavedCohortSerializer(serializers.ModelSerializer):
    filters = FiltersField()

    class Meta:
        model = SavedCohort
        fields = ("id", "name", "filters", "created_at", "updated_at")
        read_only_fields = ("id", "created_at", "updated_at")
        ref_name = "SavedCohort"


class SavedCohortListCreateApi(AnalysisApi):
    @extend_schema(responses=SavedCohortSerializer(many=True))
    def get(self, request):
        return Response(SavedCohortSerializer(selectors.saved_cohort_list(user=request.user), many=True).data)

    @extend_schema(request=SavedCohortSerializer, responses={201: SavedCohortSerializer})
    def post(self, request):
        data = _valid_cohort(request.data)
        if selectors.saved_cohort_list(user=request.user).filter(name=data["name"].strip()).exists():
            raise ValidationError({"name": ["you already have a cohort with this name"]})
        cohort = services.saved_cohort_create(user=request.user, name=data["name"], filters=data["filters"])
        return Response(SavedCohortSerializer(cohort).data, status=status.HTTP_201_CREATED)


class SavedCohortDetailApi(AnalysisApi):
    @extend_schema(responses=SavedCohortSerializer)
    def get(self, request, pk: int):
        return Response(SavedCohortSerializer(selectors.saved_cohort_get(user=request.user, cohort_id=pk)).data)

    @extend_schema(request=SavedCohortSerializer, responses=SavedCohortSerializer)
    def patch(self, request, pk: int):
        cohort = selectors.saved_cohort_get(user=request.user, cohort_id=pk)
        data = _valid_cohort(request.data, partial=True)
        cohort = services.saved_cohort_update(cohort=cohort, name=data.get("name"), filters=data.get("filters"))
        return Response(SavedCohortSerializer(cohort).data)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: int):
        services.saved_cohort_delete(cohort=selectors.saved_cohort_get(user=request.user, cohort_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _valid_cohort(data, *, partial: bool = False) -> dict:
    serializer = SavedCohortSerializer(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    unknown = sorted(set(data) - set(serializer.fields)) if hasattr(data, "keys") else []
    if unknown:
        raise ValidationError({name: ["is not an accepted field here"] for name in unknown})
    return serializer.validated_data
