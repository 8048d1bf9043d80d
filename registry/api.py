"""The registry's JSON API: patients, follow-up contacts, clinical events, the audit history and
the pseudonymised analysis dataset.

Every view states the roles it admits per HTTP method (`roles`), loads patients only through
`registry.access`, calls one service or selector and serialises the result. Services raise
Django's ValidationError ({field: [messages]}); `RegistryApi` turns it into a 400 with the same
field-keyed messages. Investigators (no SEE_IDENTIFIERS role) never receive direct identifiers
or free text: output serializers drop those fields unless the context allows them.
"""

from typing import ClassVar

from django.db.models import prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core import tokens
from core.api import (
    ApiView,
    ConfidentialFieldsMixin,
    Pagination,
    RejectUnknownKeysMixin,
    valid_input,
    version_field,
)
from core.api_parsers import DepthLimitedJSONParser
from core.roles import ANALYSIS_DATA, EDIT_REGISTRY, SEE_AUDIT, VIEW_PATIENTS
from registry import follow_up, selectors, services
from registry.access import patient_get_for_user, patients_for_user, sites_for_user
from registry.csv_io import ICS_SOURCES
from registry.lockout import lockout_response
from registry.models import (
    BASELINE_FLAGS,
    ClinicalEvent,
    EventType,
    FollowUpContact,
    Patient,
    PatientIdentity,
    Site,
    Verification,
    VitalStatus,
)

FOLLOW_UP_STATUSES = ("active", "overdue", "lost", "complete", "deceased", "withdrawn")

# Services name a few problems after the rule rather than the API field: put them where the
# client sent the value (identifiers are nested under "identifiers" in the API).
_ERROR_PATHS = {"ics": ("ics_imported",), "__all__": ("non_field_errors",)} | {
    name: ("identifiers", name) for name in services.IDENTITY_FIELDS
}


class RegistryApi(ApiView):
    """The registry's views: core's base, with the registry's error paths."""

    error_paths = _ERROR_PATHS


class FollowUpSerializer(serializers.Serializer):
    last_contact_date = serializers.DateField(allow_null=True)
    follow_up_days = serializers.IntegerField(allow_null=True)
    vital_status = serializers.ChoiceField(choices=VitalStatus.choices)
    status = serializers.ChoiceField(choices=FOLLOW_UP_STATUSES)


class IdentifiersSerializer(RejectUnknownKeysMixin, serializers.ModelSerializer):
    class Meta:
        model = PatientIdentity
        fields = services.IDENTITY_FIELDS
        # Uniqueness of the hospital number is checked by the service, with the other rules.
        extra_kwargs: ClassVar[dict[str, dict[str, object]]] = {"hospital_number": {"validators": []}}
        ref_name = "Identifiers"


class PatientOutputSerializer(ConfidentialFieldsMixin, serializers.ModelSerializer):
    """A patient with its follow-up state, taken from context["states"][patient.pk]."""

    site = serializers.CharField(source="site.code")
    renal_impairment = serializers.BooleanField(allow_null=True)
    follow_up = serializers.SerializerMethodField()
    identifiers = IdentifiersSerializer(source="identity", allow_null=True, read_only=True)

    class Meta:
        model = Patient
        fields = (
            *services.PATIENT_FIELDS,
            "renal_impairment",
            "withdrawn_on",
            "withdrawal_reason",
            "follow_up",
            "identifiers",
            "version",
        )
        read_only_fields = fields
        confidential_fields = ("identifiers", "withdrawal_reason")
        ref_name = "Patient"

    @extend_schema_field(FollowUpSerializer)
    def get_follow_up(self, patient) -> dict:
        return FollowUpSerializer(self.context["states"][patient.pk]).data


class PatientInputSerializer(RejectUnknownKeysMixin, serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", queryset=Site.objects.all())

    class Meta:
        model = Patient
        fields: ClassVar[tuple[str, ...]] = services.PATIENT_FIELDS
        # Uniqueness of study_id is checked by the service (it knows which patient is changed).
        extra_kwargs = {
            "study_id": {"validators": []},
            "ics_imported_source": {
                "error_messages": {"invalid_choice": f"must be one of {', '.join(ICS_SOURCES)} (got {{input}})"}
            },
        }
        ref_name = "PatientInput"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A user enrols and moves patients only at their own sites.
        request = self.context.get("request")
        if request is not None:
            self.fields["site"].queryset = sites_for_user(request.user)


class ContactOutputSerializer(ConfidentialFieldsMixin, serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True)

    class Meta:
        model = FollowUpContact
        fields = ("id", *services.CONTACT_FIELDS, "created_by", "created_at", "version")
        read_only_fields = fields
        confidential_fields = ("notes",)
        ref_name = "Contact"


class ContactInputSerializer(RejectUnknownKeysMixin, serializers.ModelSerializer):
    class Meta:
        model = FollowUpContact
        fields: ClassVar[tuple[str, ...]] = services.CONTACT_FIELDS
        ref_name = "ContactInput"


class EventOutputSerializer(ConfidentialFieldsMixin, serializers.ModelSerializer):
    study_id = serializers.CharField(source="patient.study_id")
    verified_by = serializers.CharField(source="verified_by.username", allow_null=True)

    class Meta:
        model = ClinicalEvent
        fields = (
            "id",
            "study_id",
            *services.EVENT_FIELDS,
            "verification",
            "verified_by",
            "verified_at",
            "source_document",
            "created_at",
            "version",
        )
        read_only_fields = fields
        # A source document reference is free text too (letters, file names): not for investigators.
        confidential_fields = ("notes", "source_document")
        ref_name = "Event"


class EventInputSerializer(RejectUnknownKeysMixin, serializers.ModelSerializer):
    class Meta:
        model = ClinicalEvent
        fields: ClassVar[tuple[str, ...]] = services.EVENT_FIELDS
        ref_name = "EventInput"


class ReasonSerializer(RejectUnknownKeysMixin, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True)
    version = version_field()

    class Meta:
        ref_name = "Reason"


# The user model's username length; a password longer than any a person types (bcrypt and PBKDF2
# need no more). Checked before authenticate(): django-axes records a failed sign-in's username in
# a 255-character column, so a longer one was a 500 on PostgreSQL (found by the schema fuzzer).
USERNAME_MAX_LENGTH = 150
PASSWORD_MAX_LENGTH = 4096


class TokenSignInSerializer(AuthTokenSerializer):
    username = serializers.CharField(label="Username", write_only=True, max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(
        label="Password",
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
        max_length=PASSWORD_MAX_LENGTH,
    )


class TokenObtainApi(ObtainAuthToken):
    """POST: exchange a username and password for the user's API token (header `Authorization:
    Token <key>`), a new one if theirs has expired; 429 while sign-in is locked after too many
    failures. DELETE: revoke your own token."""

    authentication_classes = [tokens.ExpiringTokenAuthentication, SessionAuthentication]
    parser_classes = [FormParser, MultiPartParser, DepthLimitedJSONParser]
    serializer_class = TokenSignInSerializer

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "DELETE" else []

    def perform_authentication(self, request):
        # Signing in needs only the password: an expired token still in the client's header must
        # not stand in the way of getting a new one.
        if request.method != "POST":
            super().perform_authentication(request)

    @extend_schema(
        responses={
            200: inline_serializer("Token", {"token": serializers.CharField()}),
            429: inline_serializer("SignInLocked", {"detail": serializers.CharField()}),
        },
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # django-axes marks the request when it refused the sign-in (or this failure locked it).
            if getattr(request, "axes_locked_out", False):
                return lockout_response(request)
            raise ValidationError(serializer.errors)
        return Response({"token": tokens.token_obtain(user=serializer.validated_data["user"]).key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, *args, **kwargs):
        tokens.token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Patients -----------------------------------------------------------------------------------


def _patient_data(view: RegistryApi, patient) -> dict:
    state = selectors.follow_up_state_of(patient, as_of=timezone.localdate())
    context = view.output_context() | {"states": {patient.pk: state}}
    return PatientOutputSerializer(patient, context=context).data


class PatientListCreateApi(RegistryApi):
    """GET: the patients the user may see, with follow-up state. POST: enrol a patient."""

    roles = {"GET": VIEW_PATIENTS, "POST": EDIT_REGISTRY}
    pagination_class = Pagination

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True, help_text="study_id contains")
        site = serializers.CharField(required=False, allow_blank=True, help_text="site code")
        status = serializers.ChoiceField(choices=FOLLOW_UP_STATUSES, required=False, allow_blank=True)
        index_date_after = serializers.DateField(required=False)
        index_date_before = serializers.DateField(required=False)

        class Meta:
            ref_name = "PatientFilter"

    class InputSerializer(PatientInputSerializer):
        identifiers = IdentifiersSerializer(required=False)

        class Meta(PatientInputSerializer.Meta):
            fields = (*PatientInputSerializer.Meta.fields, "identifiers")
            ref_name = "PatientCreate"

    OutputSerializer = PatientOutputSerializer

    @extend_schema(parameters=[FilterSerializer], responses=PatientOutputSerializer(many=True))
    def get(self, request):
        filters = valid_input(self.FilterSerializer, request.query_params)
        rows = selectors.patient_list(
            user=request.user,
            as_of=timezone.localdate(),
            search=filters.get("q", ""),
            site=filters.get("site", ""),
            status=filters.get("status", ""),
            index_date_after=filters.get("index_date_after"),
            index_date_before=filters.get("index_date_before"),
        )
        paginator, page = self.paginate(rows)
        patients = [row.patient for row in page]
        if self.output_context()["can_see_identifiers"]:
            prefetch_related_objects(patients, "identity")  # one query for the whole page
        context = self.output_context() | {"states": {row.patient.pk: row.state for row in page}}
        return paginator.get_paginated_response(self.OutputSerializer(patients, many=True, context=context).data)

    @extend_schema(request=InputSerializer, responses={201: PatientOutputSerializer})
    def post(self, request):
        data = dict(valid_input(self.InputSerializer, request.data, context={"request": request}))
        identity = data.pop("identifiers", None)
        patient = services.patient_create(user=request.user, data=data, identity=identity)
        return Response(_patient_data(self, patient), status=status.HTTP_201_CREATED)


class PatientDetailApi(RegistryApi):
    """GET: one patient. PATCH: change patient fields; `reason` is required for any change."""

    roles = {"GET": VIEW_PATIENTS, "PATCH": EDIT_REGISTRY}
    OutputSerializer = PatientOutputSerializer

    class InputSerializer(PatientInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True)
        version = version_field()

        class Meta(PatientInputSerializer.Meta):
            fields = (*PatientInputSerializer.Meta.fields, "reason", "version")
            ref_name = "PatientUpdate"

    def represent(self, instance) -> dict:
        return _patient_data(self, instance)

    @extend_schema(responses=PatientOutputSerializer)
    def get(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        return Response(_patient_data(self, patient))

    @extend_schema(request=InputSerializer, responses=PatientOutputSerializer)
    def patch(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        data = dict(valid_input(self.InputSerializer, request.data, partial=True, context={"request": request}))
        reason, version = data.pop("reason", ""), data.pop("version", None)
        patient = services.patient_update(
            user=request.user, patient=patient, data=data, reason=reason, expected_version=version
        )
        return Response(_patient_data(self, patient))


class PatientWithdrawApi(RegistryApi):
    roles = {"POST": EDIT_REGISTRY}

    class InputSerializer(RejectUnknownKeysMixin, serializers.Serializer):
        withdrawn_on = serializers.DateField()
        reason = serializers.CharField(allow_blank=True)

        class Meta:
            ref_name = "PatientWithdraw"

    @extend_schema(request=InputSerializer, responses=PatientOutputSerializer)
    def post(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        data = valid_input(self.InputSerializer, request.data)
        patient = services.patient_withdraw(user=request.user, patient=patient, **data)
        return Response(_patient_data(self, patient))


class PatientHistoryApi(RegistryApi):
    """The audit trail of one patient, newest first (it holds old identifier values)."""

    roles = {"GET": SEE_AUDIT}
    pagination_class = Pagination

    class OutputSerializer(serializers.Serializer):
        at = serializers.DateTimeField()
        username = serializers.CharField()
        action = serializers.CharField()
        entity = serializers.CharField()
        object_id = serializers.CharField()
        changes = serializers.JSONField()
        reason = serializers.CharField()

        class Meta:
            ref_name = "AuditEntry"

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        paginator, page = self.paginate(patient.audit_entries.order_by("-at", "-id"))
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


# Follow-up contacts -------------------------------------------------------------------------


class ContactListCreateApi(RegistryApi):
    """GET: a patient's contacts in date order (notes only for roles that see identifiers).
    POST: record a contact."""

    roles = {"GET": VIEW_PATIENTS, "POST": EDIT_REGISTRY}
    InputSerializer = ContactInputSerializer
    OutputSerializer = ContactOutputSerializer

    @extend_schema(responses=ContactOutputSerializer(many=True))
    def get(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        contacts = patient.contacts.select_related("created_by").order_by("contact_date", "id")
        return Response(self.OutputSerializer(contacts, many=True, context=self.output_context()).data)

    @extend_schema(request=ContactInputSerializer, responses={201: ContactOutputSerializer})
    def post(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        data = valid_input(self.InputSerializer, request.data)
        contact = services.contact_record(user=request.user, patient=patient, data=data)
        return Response(self.OutputSerializer(contact, context=self.output_context()).data, status=status.HTTP_201_CREATED)


class ContactUpdateDeleteApi(RegistryApi):
    """PATCH: change a contact; DELETE: remove it. Both need a `reason` (body, or ?reason= on DELETE)."""

    roles = {"PATCH": EDIT_REGISTRY, "DELETE": EDIT_REGISTRY}
    OutputSerializer = ContactOutputSerializer

    class InputSerializer(ContactInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True)
        version = version_field()

        class Meta(ContactInputSerializer.Meta):
            fields = (*ContactInputSerializer.Meta.fields, "reason", "version")
            ref_name = "ContactUpdate"

    def _contact(self, request, study_id: str, pk: int):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        return get_object_or_404(patient.contacts.select_related("patient", "created_by"), pk=pk)

    @extend_schema(request=InputSerializer, responses=ContactOutputSerializer)
    def patch(self, request, study_id: str, pk: int):
        contact = self._contact(request, study_id, pk)
        data = dict(valid_input(self.InputSerializer, request.data, partial=True))
        reason, version = data.pop("reason", ""), data.pop("version", None)
        contact = services.contact_update(
            user=request.user, contact=contact, data=data, reason=reason, expected_version=version
        )
        return Response(self.OutputSerializer(contact, context=self.output_context()).data)

    @extend_schema(request=ReasonSerializer, responses={204: None})
    def delete(self, request, study_id: str, pk: int):
        contact = self._contact(request, study_id, pk)
        services.contact_delete(user=request.user, contact=contact, **_delete_reason(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _delete_reason(request) -> dict:
    """The reason (and optional version) of a DELETE, as service keyword arguments.

    Some HTTP clients cannot send a body with DELETE: ?reason= and ?version= are accepted as well."""
    data = request.data if request.data else {k: v for k, v in request.query_params.items() if k in ("reason", "version")}
    valid = valid_input(ReasonSerializer, data)
    return {"reason": valid.get("reason", ""), "expected_version": valid.get("version")}


# Clinical events ----------------------------------------------------------------------------


class EventListCreateApi(RegistryApi):
    """GET: a patient's events in date order. POST: record an event (pending verification)."""

    roles = {"GET": VIEW_PATIENTS, "POST": EDIT_REGISTRY}
    InputSerializer = EventInputSerializer
    OutputSerializer = EventOutputSerializer

    @extend_schema(responses=EventOutputSerializer(many=True))
    def get(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        events = patient.events.select_related("patient", "verified_by").order_by("event_date", "id")
        return Response(self.OutputSerializer(events, many=True, context=self.output_context()).data)

    @extend_schema(request=EventInputSerializer, responses={201: EventOutputSerializer})
    def post(self, request, study_id: str):
        patient = patient_get_for_user(user=request.user, study_id=study_id)
        data = valid_input(self.InputSerializer, request.data)
        event = services.event_record(user=request.user, patient=patient, data=data)
        return Response(self.OutputSerializer(event, context=self.output_context()).data, status=status.HTTP_201_CREATED)


def _event_for_user(request, study_id: str, pk: int) -> ClinicalEvent:
    patient = patient_get_for_user(user=request.user, study_id=study_id)
    return get_object_or_404(patient.events.select_related("patient", "verified_by"), pk=pk)


class EventUpdateDeleteApi(RegistryApi):
    """PATCH: change an event; DELETE: remove it. Both need a `reason`."""

    roles = {"PATCH": EDIT_REGISTRY, "DELETE": EDIT_REGISTRY}
    OutputSerializer = EventOutputSerializer

    class InputSerializer(EventInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True)
        version = version_field()

        class Meta(EventInputSerializer.Meta):
            fields = (*EventInputSerializer.Meta.fields, "reason", "version")
            ref_name = "EventUpdate"

    @extend_schema(request=InputSerializer, responses=EventOutputSerializer)
    def patch(self, request, study_id: str, pk: int):
        event = _event_for_user(request, study_id, pk)
        data = dict(valid_input(self.InputSerializer, request.data, partial=True))
        reason, version = data.pop("reason", ""), data.pop("version", None)
        event = services.event_update(user=request.user, event=event, data=data, reason=reason, expected_version=version)
        return Response(self.OutputSerializer(event, context=self.output_context()).data)

    @extend_schema(request=ReasonSerializer, responses={204: None})
    def delete(self, request, study_id: str, pk: int):
        event = _event_for_user(request, study_id, pk)
        services.event_delete(user=request.user, event=event, **_delete_reason(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EventVerifyApi(RegistryApi):
    """Record the check of an event against source documents: verified or rejected."""

    roles = {"POST": EDIT_REGISTRY}
    OutputSerializer = EventOutputSerializer

    class InputSerializer(RejectUnknownKeysMixin, serializers.Serializer):
        decision = serializers.ChoiceField(choices=[Verification.VERIFIED, Verification.REJECTED])
        source_document = serializers.CharField(required=False, allow_blank=True, max_length=200)
        reason = serializers.CharField(required=False, allow_blank=True)
        version = version_field()

        class Meta:
            ref_name = "EventVerify"

    @extend_schema(request=InputSerializer, responses=EventOutputSerializer)
    def post(self, request, study_id: str, pk: int):
        event = _event_for_user(request, study_id, pk)
        data = dict(valid_input(self.InputSerializer, request.data))
        version = data.pop("version", None)
        event = services.event_verify(user=request.user, event=event, **data, expected_version=version)
        return Response(self.OutputSerializer(event, context=self.output_context()).data)


class EventListApi(RegistryApi):
    """Events across all patients the user may see, e.g. ?verification=pending, oldest first."""

    roles = {"GET": VIEW_PATIENTS}
    pagination_class = Pagination
    OutputSerializer = EventOutputSerializer

    class FilterSerializer(serializers.Serializer):
        verification = serializers.ChoiceField(choices=Verification.choices, required=False, allow_blank=True)
        event_type = serializers.ChoiceField(choices=EventType.choices, required=False, allow_blank=True)

        class Meta:
            ref_name = "EventFilter"

    @extend_schema(parameters=[FilterSerializer], responses=EventOutputSerializer(many=True))
    def get(self, request):
        filters = {k: v for k, v in valid_input(self.FilterSerializer, request.query_params).items() if v}
        events = (
            ClinicalEvent.objects.filter(patient__in=patients_for_user(request.user).values("pk"), **filters)
            .select_related("patient", "verified_by")
            .order_by("event_date", "pk")
        )
        paginator, page = self.paginate(events)
        data = self.OutputSerializer(page, many=True, context=self.output_context()).data
        return paginator.get_paginated_response(data)


# Analysis dataset ---------------------------------------------------------------------------


def _analysis_field(column: str) -> serializers.Field:
    if column.endswith(("_days", "_status")):
        return serializers.IntegerField(allow_null=column == "follow_up_days")
    if column in ("index_date", "last_contact_date"):
        return serializers.DateField(allow_null=True)
    if column in (*BASELINE_FLAGS, "renal_impairment", "acs", "vessel_revascularized"):
        return serializers.BooleanField(allow_null=True)
    if column in ("age_at_index", "egfr", "ics"):
        return serializers.FloatField(allow_null=True)
    return serializers.CharField()


class AnalysisRowSerializer(serializers.Serializer):
    """One pseudonymised analysis row; the columns are selectors.analysis_columns()."""

    class Meta:
        ref_name = "AnalysisRow"

    def get_fields(self) -> dict:
        return {column: _analysis_field(column) for column in selectors.analysis_columns()}


class AnalysisDatasetApi(RegistryApi):
    """The analysis dataset: one row per patient with time (days) and status per endpoint
    (1 event, 2 competing death, 0 censored). Never any direct identifier."""

    roles = {"GET": ANALYSIS_DATA}
    pagination_class = Pagination
    OutputSerializer = AnalysisRowSerializer

    class FilterSerializer(serializers.Serializer):
        horizon_days = serializers.IntegerField(
            min_value=1, max_value=follow_up.MAX_HORIZON_DAYS, default=follow_up.HORIZON_DAYS
        )
        # default=True also for a missing query parameter (DRF reads absent booleans as False).
        count_pending = serializers.BooleanField(default=True)

        class Meta:
            ref_name = "AnalysisFilter"

    @extend_schema(parameters=[FilterSerializer], responses=AnalysisRowSerializer(many=True))
    def get(self, request):
        params = valid_input(self.FilterSerializer, request.query_params)
        # Page the patients first, then derive the rows of that page only.
        paginator, page = self.paginate(patients_for_user(request.user).order_by("study_id").values_list("pk", flat=True))
        rows = selectors.analysis_rows(user=request.user, patients=Patient.objects.filter(pk__in=list(page)), **params)
        return paginator.get_paginated_response(self.OutputSerializer(rows, many=True).data)
