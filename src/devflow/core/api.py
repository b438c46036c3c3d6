"""API: jobs (status, log, cancel) and the activity log."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import filters, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.serializers import StrictModelSerializer
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.jobs import log_update, request_cancel
from devflow.core.models import ActivityLog, Job, JobStatus
from devflow.core.models.jobs import LogStream


class JobSerializer(StrictModelSerializer):
    class Meta:
        model = Job
        fields = [
            "id", "team", "kind", "status", "trigger", "actor", "target_type", "target_id",
            "target_label", "result", "progress", "progress_message", "error", "worker",
            "created_at", "started_at", "finished_at", "log_line_count",
        ]  # fmt: skip
        read_only_fields = fields


class LogLineSerializer(serializers.Serializer):
    """One line of a job's log."""

    seq = serializers.IntegerField(help_text="The line's number, from 0.")
    stream = serializers.ChoiceField(choices=LogStream.choices)
    text = serializers.CharField()


class JobStateSerializer(serializers.Serializer):
    """Where a job is now, as its log page shows it."""

    # Not a ChoiceField: a second "status" enum of these choices clashes in naming.
    status = serializers.CharField(help_text=f"One of {', '.join(JobStatus.values)}.")
    status_label = serializers.CharField()
    colour = serializers.CharField(help_text="grey, blue, green, red or amber.")
    progress = serializers.IntegerField(help_text="0 to 100.")
    progress_message = serializers.CharField(help_text="The step it is at.")


# What `log_update` answers: the lines after `after`, and where the job is now.
JobLogSerializer = inline_serializer(
    "JobLog", {"lines": LogLineSerializer(many=True), "job": JobStateSerializer()}
)


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Background jobs of your teams: deployments, checks, bulk actions, collections."""

    queryset = Job.objects.select_related("actor").order_by("-created_at", "-id")
    serializer_class = JobSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_fields = ["team", "kind", "status", "trigger"]
    ordering_fields = ["created_at", "finished_at", "id"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after",
                int,
                description="Lines after this sequence number (they start at 0); "
                "-1, the default, for all.",
            )
        ],
        responses={200: JobLogSerializer},
    )
    @action(detail=True, methods=["get"])
    def log(self, request: Request, pk: Any = None) -> Response:
        """Log lines after `after`, and the job's state."""
        job = self.get_object()
        try:
            after = max(int(request.query_params.get("after", "-1")), -1)
        except ValueError:
            raise serializers.ValidationError({"after": ["A whole number."]}) from None
        return Response(log_update(job.pk, after))

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    def cancel(self, request: Request, pk: Any = None) -> Response:
        """Cancel a queued job at once, or ask a running one to stop (202)."""
        job = self.get_object()
        request_cancel(job)
        job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data, status=202)


class ActivitySerializer(StrictModelSerializer):
    class Meta:
        model = ActivityLog
        fields = [
            "id", "team", "actor", "actor_label", "action", "target_type", "target_id",
            "target_label", "source", "ip_address", "result", "details", "at",
        ]  # fmt: skip
        read_only_fields = fields


class ActivityViewSet(mixins.ListModelMixin, TeamScopedViewSet):
    """Who did what, when and from where, in your teams."""

    queryset = ActivityLog.objects.order_by("-at", "-id")
    serializer_class = ActivitySerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "action", "source", "result", "target_type"]
    search_fields = ["action", "target_label", "actor_label"]
    ordering_fields = ["at", "id"]


def register(router: BaseRouter) -> None:
    router.register("jobs", JobViewSet, basename="job")
    router.register("activity", ActivityViewSet, basename="activity")
