"""API: SSH keys, quick actions, bulk runs, and writing tags and groups.

Registered from `servers/api.py`'s `register()`. Each view looks up (another team's object is
a 404), authorizes (the token's scope, then the user's role: 403), calls the same service the
page calls, and answers. A private key is never in an answer, whatever the token's scopes:
owners download it from the key's page, where every download is in the activity log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, filters, mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.idempotency import idempotent
from devflow.api.permissions import require, require_scope
from devflow.api.schema import ProblemAutoSchema
from devflow.api.serializers import (
    StrictModelSerializer,
    StrictSerializer,
    id_field,
    team_field,
)
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.api import JobSerializer
from devflow.core.models import ActivitySource
from devflow.servers import keys, labels, services
from devflow.servers.actions import QUICK_ACTIONS
from devflow.servers.bulk import BULK_ACTIONS, MAX_COMMAND_LENGTH, start_bulk_run
from devflow.servers.choices import KeyAlgorithm
from devflow.servers.models import BulkResult, BulkRun, Server, ServerGroup, SshKey, Tag

MAX_BULK_SERVERS = 500


def _invalid(error: services.ServerError, field: str = "non_field_errors") -> Exception:
    return exceptions.ValidationError({field: [str(error)]})


# SSH keys --------------------------------------------------------------------------------


class SshKeySerializer(StrictModelSerializer):
    """A key as the API shows it: the public half and fingerprint, never the private half."""

    team = team_field()
    servers: serializers.Field = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = SshKey
        fields = [
            "id", "team", "name", "algorithm", "public_key", "fingerprint", "expires_at",
            "created_at", "servers",
        ]  # fmt: skip
        read_only_fields = fields


class NewSshKeySerializer(StrictSerializer):
    team = id_field(required=False, help_text="Team id; needed if you are in several.")
    name = serializers.CharField(max_length=100)
    algorithm = serializers.ChoiceField(
        choices=KeyAlgorithm.choices, required=False,
        help_text="Generate a new key of this type (the default: Ed25519).",
    )  # fmt: skip
    private_key = serializers.CharField(
        required=False, write_only=True, trim_whitespace=False, max_length=20000,
        style={"input_type": "password"},
        help_text="Import this OpenSSH or PEM private key instead of generating one.",
    )  # fmt: skip
    passphrase = serializers.CharField(
        required=False, write_only=True, allow_blank=True, trim_whitespace=False,
        style={"input_type": "password"}, help_text="The imported key's passphrase, if any.",
    )  # fmt: skip
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("private_key") and attrs.get("algorithm"):
            raise serializers.ValidationError(
                {"algorithm": ["Give an algorithm to generate, or a private_key to import."]}
            )
        if attrs.get("passphrase") and not attrs.get("private_key"):
            raise serializers.ValidationError(
                {"passphrase": ["A passphrase only goes with an imported private_key."]}
            )
        return attrs


class SshKeyViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """SSH keys of your teams: generate or import one; the private key is never returned."""

    queryset = SshKey.objects.prefetch_related("servers").order_by("name", "id")
    serializer_class = SshKeySerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "algorithm"]
    search_fields = ["name", "fingerprint"]
    ordering_fields = ["name", "created_at", "expires_at", "id"]

    @extend_schema(request=NewSshKeySerializer, responses={201: SshKeySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = NewSshKeySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        team = self.team_for_new(given.get("team"))
        try:
            if given.get("private_key"):
                key = keys.import_key(
                    request.user, team, given["name"], given["private_key"],
                    given.get("passphrase", ""), expires_at=given.get("expires_at"),
                    request=request._request,
                )  # fmt: skip
            else:
                key = keys.generate_key(
                    request.user, team, given["name"],
                    given.get("algorithm") or KeyAlgorithm.ED25519,
                    expires_at=given.get("expires_at"), request=request._request,
                )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None
        return Response(self.get_serializer(key).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: SshKey) -> None:
        try:
            keys.delete_key(self.request.user, instance, request=self.request._request)
        except services.ServerError as error:
            raise _invalid(error) from None


# Quick actions ---------------------------------------------------------------------------


class ServerActionSerializer(StrictSerializer):
    server = id_field(help_text="The server's id.")
    action = serializers.ChoiceField(choices=[(a.name, a.label) for a in QUICK_ACTIONS.values()])
    service = serializers.CharField(
        required=False, allow_blank=True, max_length=128,
        help_text="The systemd unit, for restart_service.",
    )  # fmt: skip
    confirm = serializers.CharField(
        required=False, allow_blank=True, max_length=100,
        help_text="The server's name: destructive actions (reboot) need it.",
    )  # fmt: skip


ActionInfo = inline_serializer(
    "QuickAction",
    {
        "name": serializers.CharField(),
        "label": serializers.CharField(),
        "destructive": serializers.BooleanField(),
        "needs": serializers.ListField(child=serializers.CharField()),
    },
    many=True,
)


class ServerActionViewSet(viewsets.GenericViewSet):
    """Quick actions on one server, as the server page's buttons run them: each queues a job."""

    queryset = Server.objects.none()  # only names the model for the schema; views look up
    serializer_class = ServerActionSerializer
    pagination_class = None
    schema = ProblemAutoSchema()

    @property
    def required_action(self) -> str:
        """Listing the actions needs "view"; running one needs "deploy" (scope and role)."""
        return Action.DEPLOY if self.action == "create" else Action.VIEW

    @extend_schema(responses={200: ActionInfo})
    def list(self, request: Request) -> Response:
        """The quick actions there are, which need confirming, and what they need."""
        return Response([
            {"name": a.name, "label": a.label, "destructive": a.destructive, "needs": list(a.needs)}
            for a in QUICK_ACTIONS.values()
        ])  # fmt: skip

    @extend_schema(request=ServerActionSerializer, responses={202: JobSerializer, 404: None})
    @idempotent
    def create(self, request: Request) -> Response:
        """Queue a quick action; destructive ones need `"confirm": "<the server's name>"`."""
        given = ServerActionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        server = Server.objects.for_user(request.user).filter(pk=data["server"]).first()
        if server is None:
            raise exceptions.NotFound()
        action = QUICK_ACTIONS[data["action"]]
        require(request, action.needs_role, server)
        if action.destructive and data.get("confirm") != server.name:
            raise exceptions.ValidationError({"confirm": [
                f"To {action.label.lower()}, send the server's name ({server.name}) as confirm."
            ]})  # fmt: skip
        params: dict[str, str] = {}
        if "service" in action.needs:
            try:
                params["service"] = services.validate_service_name(data.get("service", "").strip())
            except services.ServerError as error:
                raise _invalid(error, "service") from None
        job = services.queue_job(
            request.user, server, f"servers.{action.name}", request=request._request,
            source=ActivitySource.API, **params,
        )  # fmt: skip
        return Response(JobSerializer(job, context={"request": request}).data, status=202)


# Bulk runs -------------------------------------------------------------------------------


class BulkResultSerializer(StrictModelSerializer):
    class Meta:
        model = BulkResult
        fields = [
            "id", "server", "server_name", "status", "exit_status", "output", "error",
            "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class BulkRunSerializer(StrictModelSerializer):
    job = JobSerializer(read_only=True)
    summary = serializers.SerializerMethodField()
    results = BulkResultSerializer(many=True, read_only=True)

    class Meta:
        model = BulkRun
        fields = ["id", "team", "action", "params", "created_by", "created_at", "job", "summary",
                  "results"]  # fmt: skip
        read_only_fields = fields

    def get_summary(self, run: BulkRun) -> dict[str, int]:
        """How many servers are in each state (pending, running, succeeded, failed, …)."""
        counts: dict[str, int] = {}
        for result in run.results.all():
            counts[result.status] = counts.get(result.status, 0) + 1
        return counts


class NewBulkRunSerializer(StrictSerializer):
    servers = serializers.ListField(
        child=id_field(), allow_empty=False, max_length=MAX_BULK_SERVERS,
        help_text="Ids of servers, all in one team.",
    )  # fmt: skip
    action = serializers.ChoiceField(choices=[(a.name, a.label) for a in BULK_ACTIONS.values()])
    command = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_COMMAND_LENGTH,
        help_text="For run_command.",
    )  # fmt: skip
    sudo = serializers.BooleanField(required=False, default=False, help_text="For run_command.")
    service = serializers.CharField(
        required=False, allow_blank=True, max_length=128, help_text="For restart_service."
    )
    key_id = id_field(required=False, help_text="For deploy_key and remove_key.")
    confirm = serializers.BooleanField(
        required=False, default=False, help_text="Destructive ones (reboot, remove_key) need true."
    )


class BulkRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """One action on many servers at once, with a result per server."""

    queryset = (
        BulkRun.objects.select_related("job")
        .prefetch_related("results")
        .order_by("-created_at", "-id")
    )
    serializer_class = BulkRunSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_fields = ["team", "action"]
    ordering_fields = ["created_at", "id"]

    def get_permissions(self) -> Sequence[Any]:
        # The scope and role a new run needs depend on its action (ping: view; restart: deploy;
        # a command: edit), so `create` checks them itself once it has read the body.
        if self.action == "create":
            return [IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=NewBulkRunSerializer, responses={202: BulkRunSerializer})
    @idempotent
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Start a bulk run: one pending result per server, then one job runs them."""
        given = NewBulkRunSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        bulk = BULK_ACTIONS[data["action"]]
        require_scope(request, bulk.needs_role)
        ids = set(data["servers"])
        found = list(Server.objects.for_user(request.user).filter(pk__in=ids))
        missing = sorted(ids - {server.pk for server in found})
        if missing:
            raise exceptions.ValidationError(
                {"servers": [f"No such server of yours: {', '.join(map(str, missing))}."]}
            )
        teams = {server.team_id for server in found}
        if len(teams) != 1:
            raise exceptions.ValidationError({"servers": ["Pick servers of one team."]})
        team = found[0].team
        require(request, bulk.needs_role, team)
        params = {
            "command": data.get("command", ""),
            "sudo": data.get("sudo", False),
            "service": data.get("service", ""),
            "key_id": data.get("key_id") or "",
        }
        try:
            run = start_bulk_run(
                request.user, team, found, bulk.name, params, request=request._request,
                source=ActivitySource.API, confirmed=data["confirm"],
            )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None
        run = self.get_queryset().get(pk=run.pk)
        return Response(self.get_serializer(run).data, status=status.HTTP_202_ACCEPTED)


# Tags and groups: the write half of servers.api's TagViewSet and GroupViewSet -----------


def _same_team(instance: Any, validated: dict[str, Any]) -> None:
    if validated.get("team_id", instance.team_id) != instance.team_id:
        raise exceptions.ValidationError({"team": ["It cannot move to another team."]})


class TagWrites(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Create, change and delete tags (maintainers and owners, with the write scope)."""

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        team = self.team_for_new(data.get("team_id"))
        try:
            serializer.instance = labels.create_tag(
                self.request.user, team, data["name"], data.get("colour", "#2457d6"),
                request=self.request._request,
            )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None

    def perform_update(self, serializer: Any) -> None:
        tag, data = serializer.instance, serializer.validated_data
        _same_team(tag, data)
        try:
            labels.update_tag(
                self.request.user, tag, data.get("name", tag.name),
                data.get("colour", tag.colour), request=self.request._request,
            )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None

    def perform_destroy(self, instance: Tag) -> None:
        labels.delete_tag(self.request.user, instance, request=self.request._request)


class GroupWrites(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Create, change and delete groups; deleting one leaves its servers ungrouped."""

    def perform_create(self, serializer: Any) -> None:
        data = serializer.validated_data
        team = self.team_for_new(data.get("team_id"))
        try:
            serializer.instance = labels.create_group(
                self.request.user, team, data["name"], data.get("description", ""),
                request=self.request._request,
            )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None

    def perform_update(self, serializer: Any) -> None:
        group, data = serializer.instance, serializer.validated_data
        _same_team(group, data)
        try:
            labels.update_group(
                self.request.user, group, data.get("name", group.name),
                data.get("description", group.description), request=self.request._request,
            )  # fmt: skip
        except services.ServerError as error:
            raise _invalid(error) from None

    def perform_destroy(self, instance: ServerGroup) -> None:
        labels.delete_group(self.request.user, instance, request=self.request._request)


def register(router: BaseRouter) -> None:
    router.register("ssh-keys", SshKeyViewSet, basename="ssh-key")
    router.register("server-actions", ServerActionViewSet, basename="server-action")
    router.register("bulk-runs", BulkRunViewSet, basename="bulk-run")
