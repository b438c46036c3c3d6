"""Webhook pages: the settings panel, a new secret shown once, deliveries and redelivery.

Each view looks up (another team's project or delivery is a 404), authorizes (a role
too low is a 403), calls devflow.webhooks.services and renders. The secret is only
ever in the response to the POST that made it: never in the session, a message or
a log.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from devflow.accounts.choices import Action
from devflow.core.access import fetch, me
from devflow.core.tenancy import can
from devflow.deployments.models import Deployment
from devflow.projects.models import Environment, Project
from devflow.projects.services import ProjectError
from devflow.webhooks import queries, services
from devflow.webhooks.forms import DeliveryFilterForm, WebhookSettingsForm
from devflow.webhooks.models import Decision, Delivery, WebhookConfig
from devflow.webhooks.providers import RECEIVERS

PAGE_SIZE = 25


def curl_example(url: str, branch: str) -> str:
    """A shell snippet that signs a custom-provider body with openssl and posts it."""
    return "\n".join(
        [
            f"""body='{{"ref": "{branch}", "sha": "'"$(git rev-parse HEAD)"'"}}'""",
            "signature=$(printf '%s' \"$body\" \\",
            "  | openssl dgst -sha256 -hmac \"$DEVFLOW_WEBHOOK_SECRET\" | sed 's/^.*= //')",
            f"curl -fsS -X POST '{url}' \\",
            "  -H 'Content-Type: application/json' \\",
            '  -H "X-DevFlow-Signature: sha256=$signature" \\',
            '  --data-binary "$body"',
        ]
    )


def hook_url(request: HttpRequest, path: str) -> str:
    """The URL a provider posts to: on DEVFLOW_PUBLIC_URL when set (as invitation links are).

    Behind a TLS proxy the request may look like plain http; the public URL says https.
    """
    if settings.DEVFLOW_PUBLIC_URL:
        return settings.DEVFLOW_PUBLIC_URL + path
    return request.build_absolute_uri(path)


def provider_rows(request: HttpRequest, config: WebhookConfig) -> list[dict[str, Any]]:
    """Each provider's label, full webhook URL and setup steps (the custom one: a curl example)."""
    environment = Environment.objects.filter(project_id=config.project_id).order_by("pk").first()
    branch = environment.branch if environment else "main"
    rows = []
    for receiver in queries.receivers():
        path = reverse("webhook", kwargs={"provider": receiver.name, "public_id": config.public_id})
        url = hook_url(request, path)
        rows.append(
            {
                "name": receiver.name,
                "label": receiver.label,
                "url": url,
                "setup": receiver.setup,
                "curl": curl_example(url, branch) if receiver.name == "custom" else "",
            }
        )
    return rows


def settings_panel(request: HttpRequest, project: Project) -> dict[str, Any]:
    """What the project settings page needs to show its Webhooks panel."""
    config = services.config_of(project)
    form = WebhookSettingsForm(
        project=project,
        initial={
            "enabled": config.enabled,
            "tag_environment": config.tag_environment_id,
            "rate_limit_per_minute": config.rate_limit_per_minute,
        },
    )
    return {
        "webhook": config,
        "webhook_form": form,
        "webhook_providers": provider_rows(request, config),
        "webhook_last_delivery": queries.last_delivery(project),
    }


def _settings_url(project: Project) -> str:
    return reverse("projects:settings", kwargs={"project_id": project.pk}) + "#webhooks"


@login_required
@require_POST
def save_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), Action.EDIT, pk=project_id)
    form = WebhookSettingsForm(request.POST, project=project)
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label}: {error}" if name in form.fields else str(error)
            for name, errors in form.errors.items()
            for error in errors
        ]
        messages.error(request, "The webhook settings were not saved. " + " ".join(problems))
        return redirect(_settings_url(project))
    data = form.cleaned_data
    try:
        services.update_settings(
            me(request),
            project,
            enabled=data["enabled"],
            tag_environment=data["tag_environment"],
            rate_limit_per_minute=data["rate_limit_per_minute"],
            request=request,
        )
    except ProjectError as error:
        messages.error(request, str(error))
    else:
        state = "on" if data["enabled"] else "off"
        messages.success(request, f"Saved the webhook settings of {project}: webhooks are {state}.")
    return redirect(_settings_url(project))


@never_cache
@login_required
@require_POST
def regenerate_secret(request: HttpRequest, project_id: int) -> HttpResponse:
    """Make a new secret and show it in this response only; a reload asks to post again."""
    project = fetch(request, Project.objects.all(), Action.EDIT, pk=project_id)
    secret = services.regenerate_secret(me(request), project, request=request)
    config = services.config_of(project)
    return render(
        request,
        "webhooks/secret.html",
        {"project": project, "secret": secret, "providers": provider_rows(request, config)},
    )


@login_required
def delivery_list(request: HttpRequest, project_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), pk=project_id)
    config = services.config_of(project)
    rows = (
        Delivery.objects.for_user(me(request))
        .filter(project=project)
        .prefetch_related(
            Prefetch(
                "deployments",
                queryset=Deployment.objects.select_related("environment").only(
                    "id", "environment__name"
                ),
            )
        )
    )
    filters = DeliveryFilterForm(request.GET or None)
    if filters.is_valid():
        if filters.cleaned_data["provider"]:
            rows = rows.filter(provider=filters.cleaned_data["provider"])
        if filters.cleaned_data["decision"]:
            rows = rows.filter(decision=filters.cleaned_data["decision"])
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    labels = {receiver.name: receiver.label for receiver in queries.receivers()}
    for delivery in page:
        delivery.provider_label = labels.get(delivery.provider, delivery.provider)  # type: ignore[attr-defined]
    return render(
        request,
        "webhooks/delivery_list.html",
        {
            "project": project,
            "webhook": config,
            "page": page,
            "filters": filters,
            "filtered": bool(request.GET.get("provider") or request.GET.get("decision")),
            "providers": provider_rows(request, config),
            "can_edit": can(request.user, Action.EDIT, project),
        },
    )


def _payload_view(delivery: Delivery) -> dict[str, Any]:
    """The body as stored, pretty-printed when it is whole JSON, and whether it was cut."""
    cut = delivery.payload_size > services.STORED_PAYLOAD_BYTES
    text = delivery.payload
    pretty = False
    if text and not cut:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            pretty = True
        except ValueError:
            pass
    return {
        "payload_text": text,
        "payload_pretty": pretty,
        "payload_cut": cut,
        "payload_kept": len(delivery.payload.encode()),
    }


@login_required
def delivery_detail(request: HttpRequest, project_id: int, delivery_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), pk=project_id)
    delivery = get_object_or_404(
        Delivery.objects.for_user(me(request))
        .filter(project=project)
        .select_related("redelivery_of")
        .prefetch_related(
            Prefetch(
                "deployments", queryset=Deployment.objects.select_related("environment", "job")
            )
        ),
        pk=delivery_id,
    )
    return render(
        request,
        "webhooks/delivery_detail.html",
        {
            "project": project,
            "delivery": delivery,
            "receiver": RECEIVERS.get(delivery.provider),
            "headers": sorted(delivery.headers.items()),
            "redeliveries": delivery.redeliveries.order_by("-received_at", "-id"),
            "can_deploy": can(request.user, Action.DEPLOY, project),
            **_payload_view(delivery),
        },
    )


@login_required
@require_POST
def redeliver(request: HttpRequest, project_id: int, delivery_id: int) -> HttpResponse:
    project = fetch(request, Project.objects.all(), Action.DEPLOY, pk=project_id)
    original = get_object_or_404(
        Delivery.objects.for_user(me(request), Action.DEPLOY).filter(project=project),
        pk=delivery_id,
    )
    try:
        answer = services.redeliver(me(request), original, request=request)
    except ProjectError as error:
        messages.error(request, str(error))
        return redirect("webhooks:delivery", project_id=project.pk, delivery_id=original.pk)
    delivery = answer.delivery
    summary = f"Redelivered as delivery #{delivery.pk}: {Decision(delivery.decision).label}"
    text = f"{summary}. {delivery.reason}" if delivery.reason else f"{summary}."
    if delivery.decision == Decision.DEPLOYED:
        messages.success(request, text)
    elif delivery.decision in (Decision.REJECTED, Decision.FAILED):
        messages.error(request, text)
    else:
        messages.info(request, text)
    return redirect("webhooks:delivery", project_id=project.pk, delivery_id=delivery.pk)
