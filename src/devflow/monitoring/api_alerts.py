"""API: alert rules (CRUD through `alerts`) and alerts (history, acknowledge, resolve).

The same roles as the pages: anyone in the team reads; a deployer acknowledges and
resolves; a maintainer adds, changes and deletes rules.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import django_filters
from django.db.models import Count, Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from devflow.accounts.choices import Action
from devflow.api.errors import Conflict
from devflow.api.serializers import StrictModelSerializer, team_field
from devflow.api.viewsets import TeamScopedViewSet
from devflow.monitoring import alerts
from devflow.monitoring.models import Alert, AlertOperator, AlertRule, AlertState

RULE_FIELDS = {f.name for f in fields(alerts.RuleData)}
CHANNEL_LISTS = ("channels", "escalation_channels")


class AlertRuleSerializer(StrictModelSerializer):
    team = team_field()
    condition = serializers.SerializerMethodField(help_text="e.g. “Memory > 90 % for 5 min”.")
    scope_label = serializers.SerializerMethodField()
    open_alerts = serializers.SerializerMethodField(help_text="Triggered or acknowledged now.")

    class Meta:
        model = AlertRule
        fields = [
            "id", "team", "name", "enabled", "scope", "server", "group", "tag", "metric",
            "operator", "threshold", "duration_minutes", "hysteresis", "channels",
            "escalate_after_minutes", "escalation_channels", "condition", "scope_label",
            "open_alerts", "created_at",
        ]  # fmt: skip
        read_only_fields = ["created_at"]

    def get_condition(self, rule: AlertRule) -> str:
        return alerts.describe_rule(rule)

    def get_scope_label(self, rule: AlertRule) -> str:
        return alerts.scope_label(rule)

    def get_open_alerts(self, rule: AlertRule) -> int:
        counted = getattr(rule, "open_count", None)
        if counted is not None:
            return int(counted)
        return alerts.open_alerts(rule.team_id).filter(rule=rule).count()


def _rule_data(validated: dict[str, Any], rule: AlertRule | None = None) -> alerts.RuleData:
    """The service's input: what was sent, over the rule's current settings (or defaults)."""
    if rule is None:
        base: dict[str, Any] = {"name": "", "metric": "", "operator": AlertOperator.GT,
                                "threshold": 0.0}  # fmt: skip
    else:
        base = {name: getattr(rule, name) for name in RULE_FIELDS if name not in CHANNEL_LISTS}
        base["channels"] = list(rule.channels.all())
        base["escalation_channels"] = list(rule.escalation_channels.all())
    base.update({name: value for name, value in validated.items() if name in RULE_FIELDS})
    return alerts.RuleData(**base)


def _invalid(error: alerts.RuleError) -> exceptions.ValidationError:
    return exceptions.ValidationError({error.field or "non_field_errors": [error.message]})


class AlertRuleViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Alert rules of your teams: `metric operator threshold` held for a while → an alert."""

    queryset = (
        AlertRule.objects.select_related("server", "group", "tag")
        .prefetch_related("channels", "escalation_channels")
        .annotate(
            open_count=Count(
                "alerts", filter=Q(alerts__state__in=alerts.OPEN_STATES), distinct=True
            )
        )
    )
    serializer_class = AlertRuleSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "enabled", "metric", "scope", "server", "group", "tag"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "id"]
    ordering = ["name", "id"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        team = self.team_for_new(serializer.validated_data.get("team_id"))
        try:
            rule = alerts.create_rule(team, request.user, _rule_data(serializer.validated_data),
                                      request=request._request)  # fmt: skip
        except alerts.RuleError as error:
            raise _invalid(error) from None
        return Response(self.get_serializer(rule).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rule = self.get_object()
        serializer = self.get_serializer(rule, data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
        if validated.get("team_id", rule.team_id) != rule.team_id:
            raise exceptions.ValidationError({"team": ["A rule cannot move to another team."]})
        try:
            alerts.update_rule(rule, request.user, _rule_data(validated, rule),
                               request=request._request)  # fmt: skip
        except alerts.RuleError as error:
            raise _invalid(error) from None
        return Response(self.get_serializer(self.get_object()).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: AlertRule) -> None:
        alerts.delete_rule(instance, self.request.user, request=self.request._request)


class AlertSerializer(StrictModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)
    server_name = serializers.CharField(source="server.name", read_only=True)
    value_label = serializers.SerializerMethodField(help_text="As people read it: “93.2 %”.")
    acknowledged_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Null until acknowledged."
    )
    resolved_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Null while open, and when it resolved itself.",
    )

    class Meta:
        model = Alert
        fields = [
            "id", "team", "rule", "rule_name", "metric", "server", "server_name", "state",
            "value", "value_label", "last_value", "message", "triggered_at", "escalated_at",
            "acknowledged_at", "acknowledged_by", "resolved_at", "resolved_by",
        ]  # fmt: skip
        read_only_fields = fields

    def get_value_label(self, alert: Alert) -> str:
        return alerts.format_value(alert.rule.metric, alert.value)


class AlertFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=AlertState.choices, help_text="Repeat for several: ?state=triggered&state=…"
    )
    since = django_filters.DateFilter(
        field_name="triggered_at", lookup_expr="date__gte", help_text="Triggered on or after."
    )
    until = django_filters.DateFilter(
        field_name="triggered_at", lookup_expr="date__lte", help_text="Triggered on or before."
    )

    class Meta:
        model = Alert
        fields = ["team", "state", "rule", "server", "since", "until"]


ACKNOWLEDGED_EXAMPLE = OpenApiExample(
    "Acknowledged",
    response_only=True,
    value={
        "id": 42, "team": 1, "rule": 3, "rule_name": "Disk full", "metric": "disk",
        "server": 3, "server_name": "web-1", "state": "acknowledged", "value": 93.2,
        "value_label": "93.2 %", "last_value": 93.4,
        "message": "web-1: Disk is 93.2 % (Disk > 90 % for 5 min)",
        "triggered_at": "2026-11-26T06:12:00Z", "escalated_at": None,
        "acknowledged_at": "2026-11-26T06:15:40Z", "acknowledged_by": "bob",
        "resolved_at": None, "resolved_by": None,
    },
)  # fmt: skip


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Alerts of your teams, newest first: open ones and the whole history."""

    queryset = Alert.objects.select_related("rule", "server", "acknowledged_by", "resolved_by")
    serializer_class = AlertSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = AlertFilter
    ordering_fields = ["triggered_at", "state", "id"]
    ordering = ["-triggered_at", "-id"]

    @extend_schema(
        request=None,
        responses={200: AlertSerializer, 409: None},
        examples=[ACKNOWLEDGED_EXAMPLE],
        description="Mark a triggered alert as being looked at: it stops escalating. An alert "
        "that is not triggered (already acknowledged or resolved) is a 409.",
    )
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    def acknowledge(self, request: Request, pk: Any = None) -> Response:
        alert = self.get_object()
        if not alerts.acknowledge(alert, request.user, request=request._request):
            raise Conflict("That alert is no longer waiting for acknowledgement.")
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        request=None,
        responses={200: AlertSerializer, 409: None},
        description="Close an open alert by hand; its channels hear it. If the condition still "
        "holds, a new alert starts. An already resolved alert is a 409.",
    )
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    def resolve(self, request: Request, pk: Any = None) -> Response:
        alert = self.get_object()
        if not alerts.resolve(alert, request.user, note="by hand", request=request._request):
            raise Conflict("That alert was already resolved.")
        return Response(self.get_serializer(self.get_object()).data)
