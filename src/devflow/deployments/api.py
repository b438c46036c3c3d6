"""API: deployments (start, follow the log, cancel, redeploy), releases (roll back), schedules.

Starting one only writes rows and queues a job: the answer is 202 with the deployment, whose
`status` is its job's. Every starting POST takes an `Idempotency-Key`. The rules are those of
devflow.deployments.services and .scheduling, the same the pages call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import django_filters
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, filters, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.errors import refused
from devflow.api.idempotency import idempotent
from devflow.api.serializers import StrictModelSerializer, StrictSerializer
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core import audit
from devflow.core.access import me
from devflow.core.api import JobStateSerializer, LogLineSerializer
from devflow.core.jobs import log_update
from devflow.core.models import ActivitySource, JobStatus
from devflow.deployments import scheduling, services
from devflow.deployments.models import (
    Deployment,
    DeployTrigger,
    Release,
    ScheduledDeployment,
)
from devflow.projects.models import Environment
from devflow.projects.services import ProjectError

LOCAL_TIME_HELP = (
    "Wall-clock time in `timezone`, without an offset, e.g. 2027-03-28T21:30 "
    "(a time the clocks skip for daylight saving is refused)."
)


# Deployments ----------------------------------------------------------------------------------


class DeploymentSerializer(StrictModelSerializer):
    """One run of the pipeline, what it ran with (variable names only) and how it went."""

    # Plain strings, not enums: a job's status and trigger sets share these field names, and
    # one name with two sets is ambiguous in the schema.
    status = serializers.CharField(
        read_only=True,
        help_text="Its job's: queued, running, succeeded, failed, cancelled or timed_out.",
    )
    trigger = serializers.CharField(
        read_only=True, help_text="manual, webhook, schedule, rollback, api or cli."
    )
    project_name = serializers.CharField(source="project.name", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    actor = serializers.CharField(
        source="actor.username", read_only=True, default=None, allow_null=True,
        help_text="null: a webhook.",
    )  # fmt: skip
    job = serializers.IntegerField(source="job_id", read_only=True, allow_null=True)
    release = serializers.SerializerMethodField()
    release_status = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(
        source="job.started_at", read_only=True, default=None, allow_null=True
    )
    finished_at = serializers.DateTimeField(
        source="job.finished_at", read_only=True, default=None, allow_null=True
    )
    pipeline = serializers.JSONField(source="pipeline_snapshot", read_only=True)
    variable_names = serializers.SerializerMethodField()

    class Meta:
        model = Deployment
        fields = [
            "id", "team", "project", "project_name", "environment", "environment_name",
            "status", "trigger", "actor", "branch", "requested_sha", "commit_sha",
            "commit_message", "commit_author", "release", "release_name", "release_status",
            "rollback_of", "redeploy_of", "server_names", "steps", "outcome", "error", "job",
            "created_at", "started_at", "finished_at", "pipeline", "variable_names",
        ]  # fmt: skip
        read_only_fields = fields

    @staticmethod
    def _release(deployment: Deployment) -> Release | None:
        try:
            return deployment.release
        except Release.DoesNotExist:
            return None

    def get_release(self, deployment: Deployment) -> int | None:
        """The id of the release it built or switched to (GET /releases/{id}/)."""
        release = self._release(deployment)
        return release.pk if release else None

    def get_release_status(self, deployment: Deployment) -> str | None:
        """building, active (live), kept, failed or purged."""
        release = self._release(deployment)
        return release.status if release else None

    def get_error(self, deployment: Deployment) -> str:
        """Why it failed, when it did (the job's error); empty otherwise."""
        return deployment.job.error if deployment.job else ""

    def get_variable_names(self, deployment: Deployment) -> list[str]:
        """The names of the variables it ran with; never their values."""
        return sorted(deployment.environment_variables())


class DeployRequestSerializer(StrictSerializer):
    commit_sha = serializers.CharField(
        required=False, allow_blank=True, max_length=40,
        help_text="A commit to deploy (7 to 40 hex characters); empty: the branch's newest.",
    )  # fmt: skip
    if_busy = serializers.ChoiceField(
        choices=services.IF_BUSY, default="wait",
        help_text="When a deployment of the project is queued or running: wait behind it, "
        "or fail now.",
    )  # fmt: skip


class IfBusySerializer(StrictSerializer):
    if_busy = serializers.ChoiceField(
        choices=services.IF_BUSY, required=False,
        help_text="When a deployment of the project is queued or running: wait behind it, "
        "or fail now.",
    )  # fmt: skip


LogSerializer = inline_serializer(
    "DeploymentLog",
    {
        "lines": LogLineSerializer(many=True),
        "job": JobStateSerializer(allow_null=True),
        "after": serializers.IntegerField(help_text="Pass this as `after` to get the next lines."),
        "finished": serializers.BooleanField(),
    },
)

DEPLOY_EXAMPLES = [
    OpenApiExample(
        "Deploy the branch's newest commit", value={}, request_only=True,
    ),
    OpenApiExample(
        "Deploy one commit, or fail if another deployment is running",
        value={"commit_sha": "3f2c9ab", "if_busy": "fail"}, request_only=True,
    ),
    OpenApiExample(
        "Queued",
        value={
            "id": 42, "team": 1, "project": 3, "project_name": "Shop", "environment": 5,
            "environment_name": "production", "status": "queued", "trigger": "api",
            "actor": "alice", "branch": "main", "requested_sha": "3f2c9ab", "commit_sha": "",
            "commit_message": "", "commit_author": "", "release": None, "release_name": "",
            "release_status": None, "rollback_of": None, "redeploy_of": None,
            "server_names": ["web-1"], "steps": [], "outcome": "", "error": "", "job": 77,
            "created_at": "2026-11-26T09:30:00Z", "started_at": None, "finished_at": None,
            "pipeline": {"branch": "main", "deploy_path": "/var/www/shop"},
            "variable_names": ["APP_ENV", "DB_PASSWORD"],
        },
        response_only=True, status_codes=["202"],
    ),
]  # fmt: skip


class DeploymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(field_name="job__status", choices=JobStatus.choices)

    class Meta:
        model = Deployment
        fields = ["team", "project", "environment", "trigger", "status"]


def _trigger(request: Request) -> str:
    """A deployment asked for by `devflow deploy` says so; any other API client is the API."""
    from_cli = audit.origin(request._request) == ActivitySource.CLI
    return DeployTrigger.CLI if from_cli else DeployTrigger.API


def _deployments() -> QuerySet[Deployment]:
    return Deployment.objects.select_related(
        "project", "environment", "job", "actor", "release", "team"
    )


class DeployActions:
    """`POST /environments/{id}/deploy/`: mixed into the environments' view set."""

    @extend_schema(
        request=DeployRequestSerializer,
        responses={202: DeploymentSerializer},
        examples=DEPLOY_EXAMPLES,
        summary="Deploy the environment",
    )
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def deploy(self: Any, request: Request, pk: Any = None) -> Response:
        """Queue a deployment of the environment's branch, or of one commit (202)."""
        environment: Environment = self.get_object()
        body = DeployRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            deployment = services.request_deployment(
                me(request), environment, trigger=_trigger(request),
                if_busy=body.validated_data["if_busy"],
                commit_sha=body.validated_data.get("commit_sha", ""),
                request=request._request,
            )  # fmt: skip
        except ProjectError as error:
            raise refused(error) from None
        return accepted(request, deployment)


def accepted(request: Request, deployment: Deployment) -> Response:
    """202 with the deployment as it is now, read back with everything the list shows."""
    fresh = _deployments().get(pk=deployment.pk)
    return Response(DeploymentSerializer(fresh, context={"request": request}).data, status=202)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Deployments of your teams, newest first. Start one with POST /environments/{id}/deploy/."""

    queryset = _deployments()
    serializer_class = DeploymentSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = DeploymentFilter
    ordering_fields = ["created_at", "id"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after",
                int,
                description="Lines after this sequence number; -1 (the default) "
                "for all. Pass the answer's `after` to get the next lines.",
            )
        ],
        responses={200: LogSerializer},
    )
    @action(detail=True, methods=["get"])
    def log(self, request: Request, pk: Any = None) -> Response:
        """Log lines after `after`, the job's state, and whether the deployment has finished."""
        deployment = self.get_object()
        try:
            after = max(int(request.query_params.get("after", "-1")), -1)
        except ValueError:
            after = -1  # line numbers start at 0, so -1 means every line
        if deployment.job_id is None:
            return Response({"lines": [], "job": None, "after": after, "finished": True})
        update = log_update(deployment.job_id, after)
        lines = update["lines"]
        return Response(
            {
                **update,
                "after": lines[-1]["seq"] if lines else after,
                "finished": update["job"]["status"] in JobStatus.finished(),
            }
        )

    @extend_schema(request=None, responses={202: DeploymentSerializer})
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    def cancel(self, request: Request, pk: Any = None) -> Response:
        """Cancel a queued deployment at once, or ask a running one to stop (202)."""
        deployment = self.get_object()
        try:
            services.cancel_deployment(me(request), deployment, request=request._request)
        except ProjectError as error:
            raise refused(error) from None
        return accepted(request, deployment)

    @extend_schema(
        request=IfBusySerializer,
        responses={202: DeploymentSerializer},
        examples=[OpenApiExample("Wait behind a running deployment", value={"if_busy": "wait"},
                                 request_only=True)],
    )  # fmt: skip
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def redeploy(self, request: Request, pk: Any = None) -> Response:
        """Build this deployment's exact commit again, with the settings it ran with (202)."""
        previous = self.get_object()
        body = IfBusySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            deployment = services.request_redeploy(
                me(request), previous, trigger=_trigger(request),
                if_busy=body.validated_data.get("if_busy", "wait"), request=request._request,
            )  # fmt: skip
        except ProjectError as error:
            raise refused(error) from None
        return accepted(request, deployment)


# Releases -------------------------------------------------------------------------------------


class ReleaseSerializer(StrictModelSerializer):
    project = serializers.IntegerField(source="environment.project_id", read_only=True)
    can_roll_back_to = serializers.BooleanField(read_only=True)

    class Meta:
        model = Release
        fields = [
            "id", "project", "environment", "deployment", "name", "commit_sha", "status",
            "can_roll_back_to", "created_at", "activated_at", "purged_at",
        ]  # fmt: skip
        read_only_fields = fields


class ReleaseFilter(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="environment__project")

    class Meta:
        model = Release
        fields = ["environment", "project", "status"]


ROLLBACK_EXAMPLES = [
    OpenApiExample("Roll back now, or fail if a deployment is running", value={},
                   request_only=True),
    OpenApiExample(
        "Queued rollback",
        value={
            "id": 43, "team": 1, "project": 3, "project_name": "Shop", "environment": 5,
            "environment_name": "production", "status": "queued", "trigger": "rollback",
            "actor": "alice", "branch": "main", "requested_sha": "",
            "commit_sha": "3f2c9ab0c1d2e3f4a5b6c7d8e9f0011223344556",
            "commit_message": "First version", "commit_author": "Dana Developer",
            "release": None, "release_name": "20261125174210-41", "release_status": None,
            "rollback_of": 17, "redeploy_of": None, "server_names": ["web-1"], "steps": [],
            "outcome": "", "error": "", "job": 78, "created_at": "2026-11-26T09:40:00Z",
            "started_at": None, "finished_at": None,
            "pipeline": {"branch": "main", "deploy_path": "/var/www/shop"},
            "variable_names": ["APP_ENV", "DB_PASSWORD"],
        },
        response_only=True, status_codes=["202"],
    ),
]  # fmt: skip


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Releases (directories on the servers), newest first; a kept one can be rolled back to."""

    queryset = Release.objects.select_related("environment__project__team", "deployment")
    serializer_class = ReleaseSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = ReleaseFilter
    ordering_fields = ["created_at", "activated_at", "id"]
    ordering = ["-created_at", "-id"]

    @extend_schema(
        request=IfBusySerializer, responses={202: DeploymentSerializer},
        examples=ROLLBACK_EXAMPLES, summary="Roll back to this release",
    )  # fmt: skip
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def rollback(self, request: Request, pk: Any = None) -> Response:
        """Point `current` back to this kept release with the environment it ran with (202)."""
        release = self.get_object()
        body = IfBusySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            deployment = services.request_rollback(
                me(request), release, if_busy=body.validated_data.get("if_busy", "fail"),
                request=request._request,
            )  # fmt: skip
        except ProjectError as error:
            raise refused(error) from None
        return accepted(request, deployment)


# Schedules ------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "example": "2027-03-28T21:30"})
class LocalTimeField(serializers.Field):
    """The schedule's wall-clock time in its own zone (naive: no offset)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", help_text=LOCAL_TIME_HELP, **kwargs)

    def to_representation(self, schedule: ScheduledDeployment) -> str:
        local = scheduling.local_run_at(schedule).replace(tzinfo=None)
        return local.isoformat(timespec="minutes")

    def to_internal_value(self, data: Any) -> dict[str, datetime]:
        try:
            value = datetime.fromisoformat(str(data).strip())
        except ValueError:
            raise serializers.ValidationError(
                "Enter a date and time, e.g. 2027-03-28T21:30."
            ) from None
        if value.tzinfo is not None:
            raise serializers.ValidationError(
                "Give the wall-clock time without an offset; name its zone in `timezone`."
            )
        return {"local_run_at": value}


class ScheduleSerializer(StrictModelSerializer):
    environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    project = serializers.IntegerField(source="environment.project_id", read_only=True)
    local_run_at = LocalTimeField()
    timezone = serializers.CharField(max_length=64, default="UTC", help_text="e.g. Europe/Paris")
    remind_minutes_before = serializers.IntegerField(
        default=15, min_value=0, max_value=scheduling.MAX_REMINDER_MINUTES
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = ScheduledDeployment
        fields = [
            "id", "team", "project", "environment", "run_at", "local_run_at", "timezone",
            "remind_minutes_before", "note", "status", "deployment", "error", "created_by",
            "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "team", "run_at", "status", "deployment", "error", "created_by", "created_at",
        ]  # fmt: skip
        extra_kwargs = {"run_at": {"help_text": "When it runs, in UTC."}}


class ScheduleFilter(django_filters.FilterSet):
    project = django_filters.NumberFilter(field_name="environment__project")

    class Meta:
        model = ScheduledDeployment
        fields = ["team", "environment", "project", "status"]


class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Deployments to start once at a chosen time; scheduling one needs the deploy role."""

    queryset = ScheduledDeployment.objects.select_related(
        "environment__project", "team", "created_by"
    )
    serializer_class = ScheduleSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = ScheduleFilter
    ordering_fields = ["run_at", "created_at", "id"]
    ordering = ["run_at", "id"]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if self.action in ("create", "update", "partial_update"):
            self.required_action = Action.DEPLOY  # as on the pages: deployers schedule
        super().initial(request, *args, **kwargs)

    @extend_schema(responses={201: ScheduleSerializer})
    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        environment: Environment = data["environment"]
        self.check_object_permissions(request, environment)
        try:
            schedule = scheduling.schedule_deployment(
                me(request), environment, data["local_run_at"], data["timezone"],
                remind_minutes_before=data["remind_minutes_before"], note=data.get("note", ""),
                request=request._request, source=ActivitySource.API,
            )  # fmt: skip
        except ProjectError as error:
            raise refused(error) from None
        return Response(self.get_serializer(schedule).data, status=201)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        schedule = self.get_object()
        partial = kwargs.get("partial", False)
        serializer = self.get_serializer(schedule, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("environment", schedule.environment) != schedule.environment:
            raise exceptions.ValidationError(
                {"environment": ["A schedule cannot move to another environment."]}
            )
        local = data.get("local_run_at") or scheduling.local_run_at(schedule).replace(tzinfo=None)
        try:
            scheduling.update_schedule(
                me(request), schedule, local, data.get("timezone", schedule.timezone),
                remind_minutes_before=data.get(
                    "remind_minutes_before", schedule.remind_minutes_before
                ),
                note=data.get("note", schedule.note), request=request._request,
            )  # fmt: skip
        except ProjectError as error:
            raise refused(error) from None
        return Response(self.get_serializer(schedule).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(request=None, responses={200: ScheduleSerializer})
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    def cancel(self, request: Request, pk: Any = None) -> Response:
        """Cancel a pending scheduled deployment."""
        schedule = self.get_object()
        try:
            scheduling.cancel_schedule(me(request), schedule, request=request._request)
        except ProjectError as error:
            raise refused(error) from None
        schedule.refresh_from_db()
        return Response(self.get_serializer(schedule).data)


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
    router.register("deployments", DeploymentViewSet, basename="deployment")
    router.register("releases", ReleaseViewSet, basename="release")
    router.register("schedules", ScheduleViewSet, basename="schedule")
