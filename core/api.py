"""The API's shared base: roles per HTTP method, JSON bodies with depth and number limits, a
Django ValidationError from a service as a 400 with field-keyed messages, a stale row version
as a 409 with the current representation, pagination, and serializer helpers.

Every app's API view derives from `ApiView` and states `roles` per method (core.roles tuples).
"""

from collections.abc import Mapping
from typing import ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from core import tokens
from core.api_parsers import DepthLimitedJSONParser
from core.roles import ROLES, can_see_identifiers, has_role
from core.versions import StaleVersion


def HasRole(roles: tuple[str, ...]) -> type[BasePermission]:  # noqa: N802 - used like a class
    """A DRF permission class admitting users with any of `roles`; others get 403."""

    class _HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view) -> bool:
            return has_role(request.user, roles)

    _HasRole.__name__ = f"HasRole{tuple(roles)}"
    return _HasRole


# The API schema and docs: any role (a signed-in user without a role gets 403).
AnyRole = HasRole(ROLES)


def validation_detail(exc: DjangoValidationError, error_paths: Mapping[str, tuple[str, ...]] = {}) -> dict:  # noqa: B006 - read only
    """A Django ValidationError as DRF's error body: {field: [messages]}. `error_paths` puts the
    messages of a field under another (possibly nested) key, where the client sent the value."""
    if not hasattr(exc, "error_dict"):
        return {"non_field_errors": exc.messages}
    detail: dict = {}
    for field, messages in exc.message_dict.items():
        *parents, leaf = error_paths.get(field, (field,))
        node = detail
        for parent in parents:
            node = node.setdefault(parent, {})
        node.setdefault(leaf, []).extend(messages)
    return detail


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class ApiView(APIView):
    """Base view: roles per HTTP method, JSON bodies, service ValidationError -> 400, StaleVersion -> 409."""

    roles: dict[str, tuple[str, ...]] = {}
    # {service field: key path in the request}, for errors named after a rule rather than the API field.
    error_paths: Mapping[str, tuple[str, ...]] = {}
    # Token first: DRF answers an unauthenticated request with the first class's challenge, so a
    # missing or bad token is a 401 (WWW-Authenticate: Token) rather than a 403.
    authentication_classes = [tokens.ExpiringTokenAuthentication, SessionAuthentication]
    parser_classes = [DepthLimitedJSONParser]
    # The serializer of the view's rows, for `represent` (each view that writes rows sets it).
    OutputSerializer: ClassVar[type[serializers.BaseSerializer]]

    def get_permissions(self):
        method = "GET" if self.request.method == "HEAD" else self.request.method
        # A method the view does not have: let role holders through to DRF's 405.
        roles = self.roles.get(method) or tuple({r for rs in self.roles.values() for r in rs})
        return [HasRole(roles)()]

    def handle_exception(self, exc):
        if isinstance(exc, StaleVersion):
            # The client's copy is out of date: nothing was written; send the row as it is now.
            return Response({**self.represent(exc.current), "detail": exc.message}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, DjangoValidationError):
            exc = ValidationError(validation_detail(exc, self.error_paths))
        return super().handle_exception(exc)

    def represent(self, instance) -> dict:
        """The output representation of one row (used for the 409 of a stale version)."""
        return self.OutputSerializer(instance, context=self.output_context()).data

    def output_context(self) -> dict:
        return {"request": self.request, "can_see_identifiers": can_see_identifiers(self.request.user)}

    def paginate(self, items) -> tuple[Pagination, list]:
        paginator = Pagination()
        page: list | None = paginator.paginate_queryset(items, self.request, view=self)
        assert page is not None  # None only without a page size, and settings set PAGE_SIZE
        return paginator, page


def valid_input(serializer_class, data, **kwargs) -> dict:
    """`data` checked by an input serializer: its validated data, or a 400 naming each field."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def version_field() -> serializers.IntegerField:
    """The row version a client read; a write with another version than the current one is a 409."""
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text="The version you read. If the row has changed since, nothing is saved and the answer "
        "is 409 with the current representation. Leave it out to change the fields you send only.",
    )


class RejectUnknownKeysMixin:
    """Rejects keys a serializer does not know instead of ignoring them (e.g. a typo in a PATCH)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise ValidationError({name: ["is not an accepted field here"] for name in unknown})
        return super().to_internal_value(data)


class ConfidentialFieldsMixin:
    """Drops `Meta.confidential_fields` unless the context says the user may see identifiers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.context.get("can_see_identifiers"):
            for name in self.Meta.confidential_fields:
                self.fields.pop(name, None)
