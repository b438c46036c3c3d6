"""Channels: add, change, test, disable; `emit` an event to a team's channels; deliver.

`emit` is the one way any part of DevFlow Pro notifies people. It writes one Delivery per
channel and queues a job that sends them, so a slow or dead service never holds up the
deployment, the check or the alert that caused it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from devflow.core import audit
from devflow.core.jobs import enqueue
from devflow.core.models import JobTrigger
from devflow.notifications import events, notifier
from devflow.notifications.models import Channel, Delivery, DeliveryStatus


class ChannelError(Exception):
    """A channel cannot be saved as given; the message says why, for the form."""


# Emitting ------------------------------------------------------------------------------


def emit(
    team: Any,
    event: str,
    *,
    title: str,
    body: str,
    link: str = "",
    channels: Iterable[Channel] | None = None,
) -> list[Delivery]:
    """Queue `event` for `channels`, or else for the team's channels subscribed to it.

    Disabled channels are skipped. Returns the deliveries written (none: nobody listens).
    """
    if event not in events.EVENTS:
        raise ValueError(f"Unknown event {event!r}.")
    if channels is None:
        targets = [c for c in Channel.objects.filter(team=team, enabled=True) if c.wants(event)]
    else:
        targets = [c for c in channels if c.enabled and c.team_id == team.pk]
    if not targets:
        return []
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(team=team, channel=c, event=event, title=title[:250], body=body, link=link)
            for c in targets
        ]
    )
    _queue(team, deliveries)
    return deliveries


def _queue(team: Any, deliveries: list[Delivery]) -> None:
    enqueue(
        "notifications.deliver",
        team=team,
        trigger=JobTrigger.SYSTEM,
        params={"delivery_ids": [d.pk for d in deliveries]},
    )


def link_to(path: str) -> str:
    """An absolute link to a page, on DEVFLOW_PUBLIC_URL (set it to the address people use)."""
    return (settings.DEVFLOW_PUBLIC_URL or "http://127.0.0.1:8000") + path


# Delivering ----------------------------------------------------------------------------


def deliver(delivery: Delivery, *, retries: int = 2, pause: float = 2.0) -> Delivery:
    """Send one delivery, retrying passing failures; a permanent one disables its channel."""
    channel = delivery.channel
    if not channel.enabled and not delivery.is_test:
        return _finish(delivery, ok=False, error=f"Channel disabled: {channel.disabled_reason}")
    outcome: notifier.NotifyError | None = None
    for attempt in range(retries + 1):
        Delivery.objects.filter(pk=delivery.pk).update(attempts=attempt + 1)
        delivery.attempts = attempt + 1
        try:
            notifier.send(
                channel.url,
                title=delivery.title,
                body=_body(delivery),
                allow_private=bool(channel.team.allow_private_egress),
                event=delivery.event,
            )
        except notifier.NotifyError as error:
            outcome = error
            if error.permanent or attempt == retries:
                break
            time.sleep(pause * (attempt + 1))
            continue
        outcome = None
        break
    if outcome is None:
        Channel.objects.filter(pk=channel.pk).update(last_sent_at=timezone.now())
        return _finish(delivery, ok=True)
    if outcome.permanent and not delivery.is_test:
        disable(channel, reason=f"{outcome.message} (delivery #{delivery.pk})")
    return _finish(delivery, ok=False, error=outcome.message, permanent=outcome.permanent)


def _body(delivery: Delivery) -> str:
    return f"{delivery.body}\n\n{delivery.link}" if delivery.link else delivery.body


def _finish(delivery: Delivery, *, ok: bool, error: str = "", permanent: bool = False) -> Delivery:
    fields: dict[str, Any] = {
        "status": DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
        "error": error[:1000],
        "permanent": permanent,
        "sent_at": timezone.now() if ok else None,
    }
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


TESTS_PER_MINUTE = 5


def send_test(channel: Channel, actor: Any, request: Any = None) -> Delivery:
    """Queue a test message; the channel's page shows how it went, with the exact error."""
    recent = Delivery.objects.filter(
        channel=channel, is_test=True, created_at__gte=timezone.now() - timedelta(minutes=1)
    ).count()
    if recent >= TESTS_PER_MINUTE:
        raise ChannelError("That is enough tests for one minute; wait a little and try again.")
    delivery = Delivery.objects.create(
        team=channel.team,
        channel=channel,
        event="test",
        is_test=True,
        title="DevFlow Pro test notification",
        body=f"{actor.get_username()} sent this to check the channel “{channel.name}”.",
    )
    _queue(channel.team, [delivery])
    audit.record(
        "notifications.channel_tested", actor=actor, team=channel.team, target=channel,
        request=request,
    )  # fmt: skip
    return delivery


# Channels ------------------------------------------------------------------------------


def _checked(url: str) -> notifier.Described:
    try:
        return notifier.describe(url)
    except notifier.NotifyError as error:
        raise ChannelError(error.message) from None


def _events(chosen: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(chosen))
    unknown = [e for e in chosen if e not in events.EVENTS]
    if unknown:
        raise ChannelError(f"Unknown events: {', '.join(unknown)}.")
    return chosen


def create_channel(
    team: Any, actor: Any, *, name: str, url: str, events_wanted: Iterable[str], request: Any = None
) -> Channel:
    name = name.strip()
    if not name:
        raise ChannelError("Give the channel a name.")
    if Channel.objects.filter(team=team, name=name).exists():
        raise ChannelError(f"{team} already has a channel called {name}.")
    described = _checked(url.strip())
    channel = Channel.objects.create(
        team=team,
        name=name,
        url=url.strip(),
        service=described.service,
        masked_url=described.masked_url,
        events=_events(events_wanted),
        created_by=actor,
    )
    audit.record(
        "notifications.channel_created", actor=actor, team=team, target=channel, request=request,
        details={"service": channel.service, "url": channel.masked_url},
    )  # fmt: skip
    return channel


def update_channel(
    channel: Channel,
    actor: Any,
    *,
    name: str,
    url: str,
    events_wanted: Iterable[str],
    request: Any = None,
) -> Channel:
    """Change a channel. An empty `url` keeps the stored one; a new URL re-enables it."""
    name = name.strip()
    if not name:
        raise ChannelError("Give the channel a name.")
    if Channel.objects.filter(team=channel.team, name=name).exclude(pk=channel.pk).exists():
        raise ChannelError(f"{channel.team} already has a channel called {name}.")
    channel.name = name
    channel.events = _events(events_wanted)
    if url.strip():
        described = _checked(url.strip())
        channel.url = url.strip()
        channel.service = described.service
        channel.masked_url = described.masked_url
        channel.enabled, channel.disabled_reason, channel.disabled_at = True, "", None
    channel.save()
    audit.record(
        "notifications.channel_updated", actor=actor, team=channel.team, target=channel,
        request=request, details={"url_changed": bool(url.strip())},
    )  # fmt: skip
    return channel


def disable(channel: Channel, *, reason: str, actor: Any = None) -> None:
    now = timezone.now()
    Channel.objects.filter(pk=channel.pk).update(
        enabled=False, disabled_reason=reason[:1000], disabled_at=now
    )
    channel.enabled, channel.disabled_reason, channel.disabled_at = False, reason[:1000], now
    audit.record(
        "notifications.channel_disabled", actor=actor, team=channel.team, target=channel,
        source="web" if actor else "system", details={"reason": reason[:300]},
    )  # fmt: skip


def enable(channel: Channel, actor: Any, request: Any = None) -> None:
    Channel.objects.filter(pk=channel.pk).update(enabled=True, disabled_reason="", disabled_at=None)
    channel.enabled, channel.disabled_reason, channel.disabled_at = True, "", None
    audit.record(
        "notifications.channel_enabled", actor=actor, team=channel.team, target=channel,
        request=request,
    )  # fmt: skip


def delete_channel(channel: Channel, actor: Any, request: Any = None) -> None:
    audit.record(
        "notifications.channel_deleted", actor=actor, team=channel.team, target=channel,
        request=request,
    )  # fmt: skip
    channel.delete()


# Housekeeping ----------------------------------------------------------------------------


def purge_old(now: Any = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.DEVFLOW_NOTIFICATION_RETENTION_DAYS)
    deleted, _ = Delivery.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def pending_for(delivery_ids: Iterable[int]) -> list[Delivery]:
    return list(
        Delivery.objects.filter(pk__in=list(delivery_ids))
        .filter(Q(status=DeliveryStatus.PENDING))
        .select_related("channel__team")
        .order_by("pk")
    )
