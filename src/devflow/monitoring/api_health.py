"""API: health checks (CRUD through `health`), "check now", their recent results and uptime.

The same roles as the pages: anyone in the team reads, a deployer runs a check now, a
maintainer adds, changes and deletes. The rules (what a valid check is) are in `health`.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import exceptions, filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from devflow.accounts.choices import Action
from devflow.api.errors import Conflict
from devflow.api.idempotency import idempotent
from devflow.api.serializers import StrictModelSerializer, team_field
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.api import JobSerializer
from devflow.monitoring import health, health_queries
from devflow.monitoring.health_forms import STATUS_FILTERS
from devflow.monitoring.models import HealthCheck, HealthResult

Uptime = inline_serializer(
    "Uptime",
    {key: serializers.FloatField(allow_null=True) for key in health_queries.UPTIME_WINDOWS},
)


class HealthCheckSerializer(StrictModelSerializer):
    team = team_field()
    name = serializers.CharField(
        max_length=100, required=False, allow_blank=True,
        help_text="Left empty: the project's name.",
    )  # fmt: skip
    enabled = serializers.BooleanField(
        required=False, help_text="False pauses the check: no runs, no results, no events."
    )
    state = serializers.SerializerMethodField(help_text="What the page shows: Up, Paused…")
    target = serializers.CharField(read_only=True)
    uptime = serializers.SerializerMethodField(
        help_text="Uptime % over 24h, 7d and 30d (null: no results in that window)."
    )

    class Meta:
        model = HealthCheck
        fields = [
            "id", "team", "name", "project", "kind", "url", "method", "expected_status",
            "keyword", "host", "port", "timeout_seconds", "interval_seconds", "degraded_ms",
            "tls_warn_days", "enabled", "status", "state", "status_since", "confirming",
            "target", "last_checked_at", "next_check_at", "last_response_ms",
            "last_status_code", "last_error", "tls_expires_at", "uptime", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "status", "status_since", "confirming", "last_checked_at", "next_check_at",
            "last_response_ms", "last_status_code", "last_error", "tls_expires_at",
            "created_at",
        ]  # fmt: skip

    def get_state(self, check: HealthCheck) -> str:
        return health.badge(check)[0]

    @extend_schema_field(Uptime)
    def get_uptime(self, check: HealthCheck) -> dict[str, float | None]:
        found: dict[int, dict[str, float | None]] = self.context.get("uptimes") or {}
        return found.get(check.pk) or dict.fromkeys(health_queries.UPTIME_WINDOWS)


class HealthResultSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthResult
        fields = ["id", "at", "outcome", "response_ms", "status_code", "error"]
        read_only_fields = fields


class HealthCheckFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=STATUS_FILTERS[1:], method="by_status",
        help_text="As the page filters: a status of the running checks, or paused.",
    )  # fmt: skip

    class Meta:
        model = HealthCheck
        fields = ["team", "project", "kind", "enabled"]

    def by_status(self, queryset: QuerySet[HealthCheck], name: str, value: str) -> Any:
        if value == "paused":
            return queryset.filter(enabled=False)
        return queryset.filter(enabled=True, status=value)


def _data(validated: dict[str, Any], check: HealthCheck | None = None) -> health.CheckData:
    """The service's input: what was sent, over the check's current settings (or defaults)."""
    data = health.CheckData.of(check) if check is not None else health.CheckData()
    for f in fields(health.CheckData):
        if f.name in validated:
            setattr(data, f.name, validated[f.name])
    return data


def _invalid(error: health.CheckError) -> exceptions.ValidationError:
    return exceptions.ValidationError({name: [message] for name, message in error.errors.items()})


class HealthCheckViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """HTTP(S) and TCP health checks of your teams, with their uptime."""

    queryset = HealthCheck.objects.select_related("project")
    serializer_class = HealthCheckSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_class = HealthCheckFilter
    search_fields = ["name", "url", "host"]
    ordering_fields = ["name", "status", "last_checked_at", "created_at", "id"]
    ordering = ["name", "id"]

    def _out(self, checks: list[HealthCheck], many: bool = False) -> Any:
        context = dict(self.get_serializer_context())
        context["uptimes"] = health_queries.uptimes([c.pk for c in checks], timezone.now())
        if many:
            return HealthCheckSerializer(checks, many=True, context=context).data
        return HealthCheckSerializer(checks[0], context=context).data

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._out(list(page or []), many=True))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._out([self.get_object()]))

    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
        team = self.team_for_new(validated.get("team_id"))
        try:
            check = health.create(request.user, team, _data(validated), request=request._request)
        except health.CheckError as error:
            raise _invalid(error) from None
        if validated.get("enabled") is False:
            health.set_enabled(request.user, check, False, request=request._request)
        return Response(self._out([check]), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check = self.get_object()
        serializer = self.get_serializer(check, data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
        if validated.get("team_id", check.team_id) != check.team_id:
            raise exceptions.ValidationError({"team": ["A check cannot move to another team."]})
        settings_sent = {f.name for f in fields(health.CheckData)} & set(validated)
        if settings_sent:
            try:
                health.update(request.user, check, _data(validated, check),
                              request=request._request)  # fmt: skip
            except health.CheckError as error:
                raise _invalid(error) from None
        if "enabled" in validated and validated["enabled"] != check.enabled:
            health.set_enabled(request.user, check, validated["enabled"], request=request._request)
        return Response(self._out([check]))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: HealthCheck) -> None:
        health.delete(self.request.user, instance, request=self.request._request)

    @extend_schema(
        request=None,
        responses={202: JobSerializer, 409: None},
        description="Queue a run of this check now (a job); a paused check is a 409.",
    )
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def run(self, request: Request, pk: Any = None) -> Response:
        """Check now: queue one run of this check, as the page's "Check now" button does."""
        check = self.get_object()
        if not check.enabled:
            raise Conflict(f"“{check.name}” is paused; resume it to check it.")
        job = health.check_now(request.user, check, request=request._request)
        return Response(JobSerializer(job, context={"request": request}).data, status=202)

    @extend_schema(responses={200: HealthResultSerializer(many=True)})
    @action(detail=True, methods=["get"], filter_backends=[])
    def results(self, request: Request, pk: Any = None) -> Response:
        """The check's results, newest first (kept 31 days), a page at a time."""
        check = self.get_object()
        page = self.paginate_queryset(check.results.order_by("-at", "-pk"))
        return self.get_paginated_response(HealthResultSerializer(page, many=True).data)
