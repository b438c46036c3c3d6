"""API: the webhook deliveries of your teams' projects (read only), and redelivering one.

A delivery is one request a provider made, what was decided about it and why. It never holds
the webhook's secret: the signature and token headers are not stored, and the project's
webhook settings (with the secret) are not part of this API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import filters, mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import BaseRouter

from devflow.accounts.choices import Action
from devflow.api.errors import refused
from devflow.api.idempotency import idempotent
from devflow.api.serializers import StrictModelSerializer
from devflow.api.viewsets import TeamScopedViewSet
from devflow.core.access import me
from devflow.deployments.models import Deployment
from devflow.projects.services import ProjectError
from devflow.webhooks import services
from devflow.webhooks.models import Delivery


class WebhookDeliverySerializer(StrictModelSerializer):
    deployments = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id", "team", "project", "provider", "event", "delivery_id", "signature_valid",
            "decision", "reason", "http_status", "ref", "commit_sha", "commit_message",
            "deployments", "plan", "redelivery_of", "attempts", "next_attempt_at",
            "payload_size", "remote_addr", "received_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_deployments(self, delivery: Delivery) -> list[int]:
        """The ids of the deployments it started."""
        return [deployment.pk for deployment in delivery.deployments.all()]


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    """A delivery with the headers kept (never a signature or token) and the body as stored."""

    payload_truncated = serializers.SerializerMethodField()

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "headers", "payload", "payload_truncated"]
        read_only_fields = fields

    def get_payload_truncated(self, delivery: Delivery) -> bool:
        """Whether the body was longer than what is kept (it cannot be redelivered then)."""
        return delivery.payload_size > services.STORED_PAYLOAD_BYTES


class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TeamScopedViewSet):
    """Webhook deliveries, newest first; `?project=` for one project's."""

    queryset = Delivery.objects.prefetch_related(
        Prefetch("deployments", queryset=Deployment.objects.only("id"))
    ).select_related("team")
    serializer_class = WebhookDeliverySerializer
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_fields = ["project", "provider", "decision", "event"]
    ordering_fields = ["received_at", "id"]
    ordering = ["-received_at", "-id"]

    def get_serializer_class(self) -> Any:
        return (
            WebhookDeliveryDetailSerializer
            if self.action == "retrieve"
            else WebhookDeliverySerializer
        )

    @extend_schema(request=None, responses={202: WebhookDeliveryDetailSerializer})
    @action(detail=True, methods=["post"], required_action=Action.DEPLOY)
    @idempotent
    def redeliver(self, request: Request, pk: Any = None) -> Response:
        """Decide again on this verified delivery, as if it had just arrived (a new delivery)."""
        original = self.get_object()
        try:
            answer = services.redeliver(me(request), original, request=request._request)
        except ProjectError as error:
            raise refused(error) from None
        fresh = self.get_queryset().get(pk=answer.delivery.pk)
        return Response(
            WebhookDeliveryDetailSerializer(fresh, context=self.get_serializer_context()).data,
            status=202,
        )


def register(router: BaseRouter) -> None:
    """Add this app's view sets to /api/v1/."""
    router.register("webhook-deliveries", DeliveryViewSet, basename="webhook-delivery")
