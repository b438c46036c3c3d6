"""API of the notifications app: channels (through `services`) and the delivery log.

The same roles as the pages: everyone in the team sees channels (with masked URLs) and
deliveries; maintainers and owners add, change, test, enable and delete channels. The
URL is write-only: it is read back only with a token that has read:secrets. A webhook
channel's signing secret is in two answers only: the one that made the channel and the one
that regenerated the secret.
"""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, filters, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.authentication import token_of
from devflow.api.errors import refused
from devflow.api.idempotency import idempotent
from devflow.api.serializers import StrictModelSerializer, team_field
from devflow.api.viewsets import TeamScopedViewSet
from devflow.notifications import events, notifier, services
from devflow.notifications.models import Channel, Delivery


class ChannelSerializer(StrictModelSerializer):
    team = team_field()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    kind: serializers.Field = serializers.ChoiceField(
        choices=notifier.kind_choices(), required=False,
        help_text="apprise (default): an Apprise URL; webhook: a signed JSON POST to an "
        "http(s) URL. Set on create; a channel keeps its kind.",
    )  # fmt: skip
    url = serializers.CharField(
        max_length=4000, required=False, allow_blank=True, trim_whitespace=False,
        style={"input_type": "password"},
        help_text="The Apprise URL, credentials included (slack://…, mailtos://…), or the "
        "webhook's https:// URL. Write-only: read back only with the read:secrets scope. On a "
        "change, left out or empty keeps it.",
    )  # fmt: skip
    events = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Event names it receives; left out on create: "
        + ", ".join(events.DEFAULT_EVENTS) + ".",
    )  # fmt: skip

    class Meta:
        model = Channel
        fields = [
            "id", "team", "name", "kind", "url", "service", "masked_url", "events", "enabled",
            "disabled_reason", "disabled_at", "last_sent_at", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "service", "masked_url", "enabled", "disabled_reason", "disabled_at",
            "last_sent_at", "created_at",
        ]  # fmt: skip
        secret_fields = ["url"]
        # The service says "Acme already has a channel called ops", not the generic message.
        validators: list[Any] = []

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # The pages never show the URL again, so the session (their own calls) does not read
        # it back either: only a token given read:secrets does.
        if token_of(self.context.get("request")) is None:
            fields["url"].write_only = True
        return fields


class ChannelWithSecretSerializer(ChannelSerializer):
    """A channel with its signing secret: only in the answers that made the secret."""

    # Read-only here; a plain string keeps the schema's one Channel kind enum (no collision).
    kind = serializers.CharField(read_only=True, help_text="apprise or webhook.")

    signing_secret = serializers.CharField(
        read_only=True,
        help_text="Webhooks: the key of DevFlow-Signature (HMAC-SHA256). Shown in this answer "
        "only; regenerate it if lost. Empty for Apprise channels.",
    )

    class Meta(ChannelSerializer.Meta):
        fields = [*ChannelSerializer.Meta.fields, "signing_secret"]


class DeliverySerializer(StrictModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    event_label = serializers.CharField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "team", "channel", "channel_name", "event", "event_label", "title", "body",
            "link", "is_test", "status", "attempts", "error", "permanent", "created_at",
            "sent_at", "next_attempt_at",
        ]  # fmt: skip
        read_only_fields = fields


CHANNEL_EXAMPLES = [
    OpenApiExample(
        "A Slack channel",
        request_only=True,
        value={
            "team": 1,
            "name": "ops Slack",
            "url": "slack://T000/B000/XXXXXXXX/#ops",
            "events": ["deployment.failed", "alert.triggered", "health.down"],
        },
    ),
    OpenApiExample(
        "Added (the URL is not read back)",
        response_only=True,
        status_codes=["201"],
        value={
            "id": 7,
            "team": 1,
            "name": "ops Slack",
            "kind": "apprise",
            "service": "Slack",
            "masked_url": "slack://T...0/B...0/X...X/%23ops/",
            "events": ["deployment.failed", "alert.triggered", "health.down"],
            "enabled": True,
            "disabled_reason": "",
            "disabled_at": None,
            "last_sent_at": None,
            "created_at": "2026-11-26T10:00:00Z",
            "signing_secret": "",
        },
    ),
]


class ChannelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TeamScopedViewSet
):
    """Where your teams' notifications go: one Apprise URL each, and the events it wants."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter, filters.SearchFilter]
    filterset_fields = ["team", "kind", "enabled", "service"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at", "last_sent_at", "id"]
    ordering = ["name", "id"]

    @extend_schema(examples=CHANNEL_EXAMPLES, responses={201: ChannelWithSecretSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
        team = self.team_for_new(validated.get("team_id"))
        try:
            channel = services.create_channel(
                team, request.user, name=validated.get("name", ""), url=validated.get("url", ""),
                events_wanted=validated.get("events", events.DEFAULT_EVENTS),
                kind=validated.get("kind", "apprise"), request=request._request,
            )  # fmt: skip
        except services.ChannelError as error:
            raise refused(error) from None
        shown = ChannelWithSecretSerializer(channel, context=self.get_serializer_context())
        return Response(shown.data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        channel = self.get_object()
        serializer = self.get_serializer(channel, data=request.data, partial=kwargs.get("partial"))
        serializer.is_valid(raise_exception=True)
        validated = serializer.validated_data
        if validated.get("team_id", channel.team_id) != channel.team_id:
            raise exceptions.ValidationError({"team": ["A channel cannot move to another team."]})
        if validated.get("kind", channel.kind) != channel.kind:
            raise exceptions.ValidationError(
                {"kind": ["A channel keeps its kind; add a new channel instead."]}
            )
        try:
            services.update_channel(
                channel, request.user, name=validated.get("name", channel.name),
                url=validated.get("url", ""),
                events_wanted=validated.get("events", channel.events), request=request._request,
            )  # fmt: skip
        except services.ChannelError as error:
            raise refused(error) from None
        return Response(self.get_serializer(channel).data)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def perform_destroy(self, instance: Channel) -> None:
        services.delete_channel(instance, self.request.user, request=self.request._request)

    @extend_schema(
        request=None,
        responses={202: DeliverySerializer, 429: None},
        description="Queue a test message; the delivery (its status, the exact error) tells "
        "how it went. At most a few tests a minute per channel (then 429).",
    )
    @action(detail=True, methods=["post"], required_action=Action.EDIT)
    @idempotent
    def test(self, request: Request, pk: Any = None) -> Response:
        channel = self.get_object()
        try:
            delivery = services.send_test(channel, request.user, request=request._request)
        except services.ChannelError as error:
            raise exceptions.Throttled(detail=str(error)) from None
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None,
        responses={200: ChannelSerializer},
        description="Enable a channel again, e.g. after it was disabled by a permanent failure.",
    )
    @action(detail=True, methods=["post"], required_action=Action.EDIT)
    def enable(self, request: Request, pk: Any = None) -> Response:
        channel = self.get_object()
        services.enable(channel, request.user, request=request._request)
        return Response(self.get_serializer(channel).data)

    @extend_schema(
        request=None,
        responses={200: ChannelWithSecretSerializer},
        description="Give a webhook channel a new signing secret, shown in this answer only; "
        "the old one stops working at once. An Apprise channel has none (400).",
    )
    @action(
        detail=True, methods=["post"], url_path="regenerate-secret", required_action=Action.EDIT
    )
    def regenerate_secret(self, request: Request, pk: Any = None) -> Response:
        channel = self.get_object()
        try:
            services.regenerate_secret(channel, request.user, request=request._request)
        except services.ChannelError as error:
            raise refused(error) from None
        shown = ChannelWithSecretSerializer(channel, context=self.get_serializer_context())
        return Response(shown.data)


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """What was sent through your teams' channels, newest first, and whether it arrived."""

    queryset = Delivery.objects.select_related("channel")
    serializer_class = DeliverySerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_fields = ["team", "channel", "status", "event", "is_test"]
    ordering_fields = ["created_at", "sent_at", "id"]
    ordering = ["-created_at", "-id"]


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
    router.register("channels", ChannelViewSet, basename="channel")
    router.register("notification-deliveries", DeliveryViewSet, basename="notification-delivery")
