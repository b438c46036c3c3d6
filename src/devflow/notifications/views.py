"""Channel pages: list and add, change, send a test, re-enable, delete; the delivery log.

Everyone in the team sees channels (with masked URLs) and deliveries; maintainers and
owners change them. Another team's channel is a 404. A webhook channel's signing secret is
shown once, in the answer to the POST that made it (adding, regenerating), never again.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import current_team, fetch, me
from devflow.core.tenancy import can
from devflow.notifications import events, notifier, services, webhook
from devflow.notifications.forms import ChannelForm
from devflow.notifications.models import Channel, Delivery, DeliveryStatus


def _labels() -> dict[str, str]:
    labels = {name: kind.label for name, kind in events.EVENTS.items()}
    labels["test"] = "Test"
    return labels


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    can_edit = can(request.user, Action.EDIT, team)
    form = ChannelForm()
    if request.method == "POST":
        current_team(request, Action.EDIT)
        form = ChannelForm(request.POST)
        if form.is_valid():
            try:
                channel = services.create_channel(
                    team, me(request), name=form.cleaned_data["name"],
                    kind=form.cleaned_data["kind"], url=form.cleaned_data["url"],
                    events_wanted=form.cleaned_data["events"], request=request,
                )  # fmt: skip
            except services.ChannelError as error:
                form.add_error(None, str(error))
            else:
                if channel.signing_secret:
                    return _secret_page(request, channel, channel.signing_secret, created=True)
                messages.success(request, f"Channel {channel.name} added. Send it a test.")
                return redirect("notifications:channel", channel.pk)
    channels = Channel.objects.for_user(me(request)).filter(team=team)
    return render(
        request,
        "notifications/channel_list.html",
        {"team": team, "channels": channels, "form": form, "can_edit": can_edit,
         "labels": _labels(), "section": "notifications"},
    )  # fmt: skip


@login_required
def channel_detail(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = fetch(request, Channel.objects.select_related("team"), pk=channel_id)
    can_edit = can(request.user, Action.EDIT, channel)
    form = ChannelForm(
        editing=True, kind=channel.kind, initial={"name": channel.name, "events": channel.events}
    )
    if request.method == "POST":
        channel = fetch(request, Channel.objects.select_related("team"), Action.EDIT, pk=channel_id)
        form = ChannelForm(request.POST, editing=True, kind=channel.kind)
        if form.is_valid():
            try:
                services.update_channel(
                    channel, me(request), name=form.cleaned_data["name"],
                    url=form.cleaned_data["url"], events_wanted=form.cleaned_data["events"],
                    request=request,
                )  # fmt: skip
            except services.ChannelError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"Channel {channel.name} saved.")
                return redirect("notifications:channel", channel.pk)
    deliveries = list(channel.deliveries.all()[:20])
    return render(
        request,
        "notifications/channel_detail.html",
        {
            "channel": channel,
            "form": form,
            "can_edit": can_edit,
            "deliveries": deliveries,
            # Refresh while a first try is under way, not through a retry's hour-long wait.
            "sending": any(
                d.status == DeliveryStatus.PENDING and not d.retrying for d in deliveries
            ),
            "signed": notifier.get(channel.kind).signed
            if channel.kind in notifier.NOTIFIERS
            else False,
            "verify_python": webhook.VERIFY_PYTHON,
            "verify_node": webhook.VERIFY_NODE,
            "retry_delays": _delays(channel),
            "labels": _labels(),
            "section": "notifications",
        },
    )


def _delays(channel: Channel) -> list[str]:
    delays = (
        notifier.NOTIFIERS[channel.kind].retry_delays if channel.kind in notifier.NOTIFIERS else ()
    )
    return [
        f"{s // 3600} h" if s >= 3600 else f"{s // 60} min" if s >= 60 else f"{s} s" for s in delays
    ]


def _secret_page(
    request: HttpRequest, channel: Channel, secret: str, *, created: bool
) -> HttpResponse:
    """The one page that shows a signing secret; not cached, and a reload does not show it."""
    response = render(
        request,
        "notifications/channel_secret.html",
        {
            "channel": channel,
            "secret": secret,
            "created": created,
            "verify_python": webhook.VERIFY_PYTHON,
            "verify_node": webhook.VERIFY_NODE,
            "section": "notifications",
        },
        status=201 if created else 200,
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def channel_secret(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Make a new signing secret and show it in this answer only; the old one stops at once."""
    channel = fetch(request, Channel.objects.select_related("team"), Action.EDIT, pk=channel_id)
    try:
        secret = services.regenerate_secret(channel, me(request), request=request)
    except services.ChannelError as error:
        messages.error(request, str(error))
        return redirect("notifications:channel", channel.pk)
    return _secret_page(request, channel, secret, created=False)


@login_required
@require_POST
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = fetch(request, Channel.objects.select_related("team"), Action.EDIT, pk=channel_id)
    try:
        services.send_test(channel, me(request), request=request)
    except services.ChannelError as error:
        messages.error(request, str(error))
    else:
        messages.info(request, "Test queued; its result appears below in a moment.")
    return redirect("notifications:channel", channel.pk)


@login_required
@require_POST
def channel_enable(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = fetch(request, Channel.objects.select_related("team"), Action.EDIT, pk=channel_id)
    services.enable(channel, me(request), request=request)
    messages.success(request, f"Channel {channel.name} enabled again.")
    return redirect("notifications:channel", channel.pk)


@login_required
@require_POST
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = fetch(request, Channel.objects.select_related("team"), Action.EDIT, pk=channel_id)
    name = channel.name
    services.delete_channel(channel, me(request), request=request)
    messages.success(request, f"Channel {name} deleted.")
    return redirect("notifications:channels")


@login_required
def delivery_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    deliveries = Delivery.objects.for_user(me(request)).filter(team=team).select_related("channel")
    channels = Channel.objects.filter(team=team)
    chosen = {
        "channel": request.GET.get("channel", ""),
        "status": request.GET.get("status", ""),
        "event": request.GET.get("event", ""),
    }
    if chosen["channel"].isdigit():
        deliveries = deliveries.filter(channel_id=int(chosen["channel"]))
    if chosen["status"] in DeliveryStatus.values:
        deliveries = deliveries.filter(status=chosen["status"])
    if chosen["event"] in events.EVENTS or chosen["event"] == "test":
        deliveries = deliveries.filter(event=chosen["event"])
    page = Paginator(deliveries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "notifications/delivery_list.html",
        {"team": team, "page": page, "channels": channels, "chosen": chosen,
         "statuses": DeliveryStatus.choices, "labels": _labels(), "section": "notifications"},
    )  # fmt: skip
