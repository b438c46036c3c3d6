"""Channels: add, change, test, disable; `emit` an event to a team's channels; deliver.

`emit` is the one way any part of DevFlow Pro notifies people. It writes one Delivery per
channel and queues a job that sends them, so a slow or dead service never holds up the
deployment, the check or the alert that caused it.

Kinds with `retry_delays` (webhooks) retry across time: a passing failure leaves the
delivery pending with `next_attempt_at`, and the scheduler tick (`retry_due`) queues it
again when that time comes. Each try is claimed with a conditional update of `attempts`,
so two jobs holding the same delivery never send the same try twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from devflow.core import audit
from devflow.core.jobs import enqueue
from devflow.core.models import JobTrigger
from devflow.notifications import events, notifier, webhook
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
    data: dict[str, Any] | None = None,
    channels: Iterable[Channel] | None = None,
) -> list[Delivery]:
    """Queue `event` for `channels`, or else for the team's channels subscribed to it.

    `data` (JSON-able facts: ids, names, statuses) goes to webhooks as the payload's "data".
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
            Delivery(
                team=team,
                channel=c,
                event=event,
                title=title[:250],
                body=body,
                link=link,
                data=data or {},
                next_attempt_at=_lease(c),
            )
            for c in targets
        ]
    )
    _queue(team, deliveries)
    return deliveries


# How long a queued try may take before the tick queues it again (its job was lost, say).
# Safe either way: whichever job claims the try first sends it, the other one skips it.
LEASE = timedelta(minutes=15)


def _lease(channel: Channel) -> Any:
    return timezone.now() + LEASE if _spaced(channel) else None


def _spaced(channel: Channel) -> bool:
    """Whether the channel's kind retries across time (through the tick) rather than in-job."""
    return channel.kind in notifier.NOTIFIERS and bool(notifier.get(channel.kind).retry_delays)


def _queue(team: Any, deliveries: list[Delivery]) -> None:
    params: dict[str, Any] = {"delivery_ids": [d.pk for d in deliveries]}
    spaced = {str(d.pk): d.attempts for d in deliveries if _spaced(d.channel)}
    if spaced:
        # The try each job is meant to make: a job that comes late finds it taken.
        params["attempts"] = spaced
    enqueue(
        "notifications.deliver",
        team=team,
        trigger=JobTrigger.SYSTEM,
        params=params,
    )


def link_to(path: str) -> str:
    """An absolute link to a page, on DEVFLOW_PUBLIC_URL (set it to the address people use)."""
    return (settings.DEVFLOW_PUBLIC_URL or "http://127.0.0.1:8000") + path


# Delivering ----------------------------------------------------------------------------


def deliver(
    delivery: Delivery, *, retries: int = 2, pause: float = 2.0, expected: int | None = None
) -> Delivery:
    """Send one delivery, retrying passing failures; a permanent one disables its channel.

    Kinds that retry across time make one try here (the try `expected` + 1, if no one made
    it yet) and leave the next to the tick; `retries` and `pause` are for the others.
    """
    channel = delivery.channel
    if not channel.enabled and not delivery.is_test:
        return _finish(delivery, ok=False, error=f"Channel disabled: {channel.disabled_reason}")
    if _spaced(channel):
        return _try_once(delivery, expected=delivery.attempts if expected is None else expected)
    kind = notifier.get(channel.kind)
    outcome: notifier.NotifyError | None = None
    for attempt in range(retries + 1):
        Delivery.objects.filter(pk=delivery.pk).update(attempts=attempt + 1)
        delivery.attempts = attempt + 1
        try:
            kind.send(channel, delivery)
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


def _try_once(delivery: Delivery, *, expected: int) -> Delivery:
    """Make try number `expected` + 1 of `delivery`, unless another job has made it."""
    channel = delivery.channel
    kind = notifier.get(channel.kind)
    claimed = Delivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=expected
    ).update(attempts=F("attempts") + 1, next_attempt_at=timezone.now() + LEASE)
    if claimed != 1:
        delivery.refresh_from_db()
        return delivery  # sent, given up or tried by another job meanwhile
    delivery.attempts = expected + 1
    try:
        kind.send(channel, delivery)
    except notifier.NotifyError as error:
        if error.permanent and not delivery.is_test:
            disable(channel, reason=f"{error.message} (delivery #{delivery.pk})")
        last = delivery.attempts > len(kind.retry_delays)
        if error.permanent or last or delivery.is_test:
            return _finish(delivery, ok=False, error=error.message, permanent=error.permanent)
        return _retry_later(delivery, error.message, kind.retry_delays[delivery.attempts - 1])
    Channel.objects.filter(pk=channel.pk).update(last_sent_at=timezone.now())
    return _finish(delivery, ok=True)


def _retry_later(delivery: Delivery, error: str, seconds: int) -> Delivery:
    fields: dict[str, Any] = {
        "error": error[:1000],
        "next_attempt_at": timezone.now() + timedelta(seconds=seconds),
    }
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


def retry_due(now: Any = None) -> list[int]:
    """Queue the pending deliveries whose time has come (scheduler tick); return their ids.

    Each row is claimed with a conditional update (its `next_attempt_at` still the one
    read), so two schedulers never queue the same try twice.
    """
    now = now or timezone.now()
    due = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .select_related("team", "channel")
        .order_by("next_attempt_at")[:200]
    )
    claimed: dict[int, list[Delivery]] = {}
    for delivery in due:
        if claim(delivery, now):
            claimed.setdefault(delivery.team_id, []).append(delivery)
    for rows in claimed.values():
        _queue(rows[0].team, rows)
    return [d.pk for rows in claimed.values() for d in rows]


def claim(delivery: Delivery, now: Any) -> bool:
    """Take a due delivery for one new job: True for exactly one of the schedulers asking."""
    return (
        Delivery.objects.filter(
            pk=delivery.pk,
            status=DeliveryStatus.PENDING,
            next_attempt_at=delivery.next_attempt_at,
        ).update(next_attempt_at=now + LEASE)
        == 1
    )


def _finish(delivery: Delivery, *, ok: bool, error: str = "", permanent: bool = False) -> Delivery:
    fields: dict[str, Any] = {
        "status": DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
        "error": error[:1000],
        "permanent": permanent,
        "sent_at": timezone.now() if ok else None,
        "next_attempt_at": None,
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
        next_attempt_at=_lease(channel),
    )
    _queue(channel.team, [delivery])
    audit.record(
        "notifications.channel_tested", actor=actor, team=channel.team, target=channel,
        request=request,
    )  # fmt: skip
    return delivery


# Channels ------------------------------------------------------------------------------


def _checked(kind: str, url: str) -> notifier.Described:
    try:
        return notifier.get(kind).describe(url)
    except notifier.NotifyError as error:
        raise ChannelError(error.message) from None


def _kind(kind: str) -> notifier.Notifier:
    if kind not in notifier.NOTIFIERS:
        known = ", ".join(notifier.NOTIFIERS)
        raise ChannelError(f"Unknown kind of channel {kind!r}; one of: {known}.")
    return notifier.get(kind)


def _events(chosen: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(chosen))
    unknown = [e for e in chosen if e not in events.EVENTS]
    if unknown:
        raise ChannelError(f"Unknown events: {', '.join(unknown)}.")
    return chosen


def create_channel(
    team: Any,
    actor: Any,
    *,
    name: str,
    url: str,
    events_wanted: Iterable[str],
    kind: str = "apprise",
    request: Any = None,
) -> Channel:
    """Add a channel. A kind that signs gets a new secret: show `channel.signing_secret` once."""
    name = name.strip()
    chosen = _kind(kind)
    if not name:
        raise ChannelError("Give the channel a name.")
    if Channel.objects.filter(team=team, name=name).exists():
        raise ChannelError(f"{team} already has a channel called {name}.")
    described = _checked(kind, url.strip())
    now = timezone.now()
    channel = Channel.objects.create(
        team=team,
        name=name,
        kind=kind,
        url=url.strip(),
        service=described.service,
        masked_url=described.masked_url,
        signing_secret=webhook.new_secret() if chosen.signed else "",
        secret_rotated_at=now if chosen.signed else None,
        events=_events(events_wanted),
        created_by=actor,
    )
    audit.record(
        "notifications.channel_created", actor=actor, team=team, target=channel, request=request,
        details={"kind": kind, "service": channel.service, "url": channel.masked_url},
    )  # fmt: skip
    return channel


def regenerate_secret(channel: Channel, actor: Any, request: Any = None) -> str:
    """Give a signing channel a new secret and return it (to show once); the old one stops."""
    if not notifier.get(channel.kind).signed:
        raise ChannelError(f"A channel of kind {channel.kind} has no signing secret.")
    channel.signing_secret = webhook.new_secret()
    channel.secret_rotated_at = timezone.now()
    channel.save(update_fields=["signing_secret", "secret_rotated_at"])
    audit.record(
        "notifications.channel_secret_regenerated", actor=actor, team=channel.team,
        target=channel, request=request,
    )  # fmt: skip
    return channel.signing_secret


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
        described = _checked(channel.kind, url.strip())
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
