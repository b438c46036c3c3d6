"""Read-only look-ups the webhook pages share; nothing here changes a row."""

from __future__ import annotations

from devflow.projects.models import Project
from devflow.webhooks.models import Delivery
from devflow.webhooks.providers import RECEIVERS, Receiver

# The order the pages list providers in; one registered later goes at the end.
PAGE_ORDER = ("github", "gitlab", "bitbucket", "custom")


def receivers() -> list[Receiver]:
    """Every registered provider, the well-known ones first."""
    rank = {name: index for index, name in enumerate(PAGE_ORDER)}
    return sorted(RECEIVERS.values(), key=lambda r: (rank.get(r.name, len(rank)), r.name))


def last_delivery(project: Project) -> Delivery | None:
    return Delivery.objects.filter(project=project).order_by("-received_at", "-id").first()
