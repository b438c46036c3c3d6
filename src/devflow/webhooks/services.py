"""Receive a webhook: verify, record, decide, enqueue. Every request leaves a delivery row.

The endpoint only does what is here: no git, no ssh. A deployment is queued
and the answer goes back at once (202); if queueing fails, the delivery is
marked and the scheduler retries it with backoff, so no push is dropped.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from devflow.core import audit
from devflow.core.models import JobStatus
from devflow.deployments import services as deployments
from devflow.deployments.models import Deployment, DeployTrigger
from devflow.projects.models import Environment, Project
from devflow.projects.services import ProjectError
from devflow.webhooks import lookups
from devflow.webhooks.models import Decision, Delivery, WebhookConfig
from devflow.webhooks.providers import RECEIVERS, Event, PayloadError, Push, Receiver

MAX_BODY_BYTES = 1024 * 1024
STORED_PAYLOAD_BYTES = 64 * 1024
SAME_COMMIT_WINDOW = timedelta(minutes=10)
MAX_ATTEMPTS = 8
KEPT_HEADERS = ("Content-Type", "User-Agent", "Content-Length")


@dataclass
class Answer:
    status: int
    delivery: Delivery
    deployment_ids: list[int] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery.pk,
            "decision": self.delivery.decision,
            "reason": self.delivery.reason,
            "deployments": self.deployment_ids,
        }


# Settings ------------------------------------------------------------------------


def config_of(project: Project) -> WebhookConfig:
    """The project's webhook settings, created with a fresh secret on first use."""
    config = WebhookConfig.objects.filter(project=project).first()
    if config is None:
        config, _ = WebhookConfig.objects.get_or_create(
            project=project, defaults={"secret": new_secret()}
        )
    return config


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def regenerate_secret(actor: Any, project: Project, *, request: HttpRequest | None = None) -> str:
    """Make a new secret (the old one stops working now) and return it, to show once."""
    config = config_of(project)
    secret = new_secret()
    config.secret = secret
    config.secret_rotated_at = timezone.now()
    config.save(update_fields=["secret", "secret_rotated_at"])
    audit.record(
        "webhook.secret_regenerated", actor=actor, team=project.team, target=project,
        request=request,
    )  # fmt: skip
    return secret


@transaction.atomic
def update_settings(
    actor: Any,
    project: Project,
    *,
    enabled: bool,
    tag_environment: Environment | None,
    rate_limit_per_minute: int,
    request: HttpRequest | None = None,
) -> WebhookConfig:
    if tag_environment is not None and tag_environment.project_id != project.pk:
        raise ProjectError("That environment belongs to another project.")
    if not 1 <= rate_limit_per_minute <= 10_000:
        raise ProjectError("The rate limit must be between 1 and 10000 requests a minute.")
    config = config_of(project)
    config.enabled = enabled
    config.tag_environment = tag_environment
    config.rate_limit_per_minute = rate_limit_per_minute
    config.save(update_fields=["enabled", "tag_environment", "rate_limit_per_minute"])
    audit.record(
        "webhook.updated", actor=actor, team=project.team, target=project, request=request,
        details={"enabled": enabled, "tags_to": tag_environment.name if tag_environment else ""},
    )  # fmt: skip
    return config


# Receiving -----------------------------------------------------------------------


def _kept_headers(receiver: Receiver | None, headers: Mapping[str, str]) -> dict[str, str]:
    names = list(KEPT_HEADERS)
    if receiver is not None:  # never the signature or token: GitLab's token is the secret
        names += [receiver.event_header, receiver.delivery_header]
    return {name: headers[name][:300] for name in names if headers.get(name)}


def receive(
    provider: str,
    public_id: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    remote_addr: str | None = None,
    body_size: int | None = None,
) -> Answer:
    """Handle one request; the answer's status is the HTTP status to return."""
    receiver = RECEIVERS.get(provider)
    size = len(body) if body_size is None else body_size
    delivery = Delivery(
        provider=provider[:20],
        event=receiver.event_name(headers) if receiver else "",
        delivery_id=receiver.delivery_id(headers) if receiver else "",
        headers=_kept_headers(receiver, headers),
        payload=body[:STORED_PAYLOAD_BYTES].decode("utf-8", "replace"),
        payload_size=size,
        remote_addr=remote_addr,
    )
    if receiver is None:
        return _finish(delivery, 404, Decision.REJECTED, f"unknown provider {provider!r}")
    if size > MAX_BODY_BYTES:
        delivery.payload = ""
        return _finish(
            delivery, 413, Decision.REJECTED,
            f"body of {size} bytes is over the {MAX_BODY_BYTES} byte limit",
        )  # fmt: skip
    found = lookups.webhook_config(public_id)
    if found is None:
        return _finish(delivery, 404, Decision.REJECTED, "no project has this webhook URL")
    config, team_id = found
    delivery.project_id, delivery.team_id = config.project_id, team_id
    limit = config.rate_limit_per_minute
    minute_ago = timezone.now() - timedelta(minutes=1)
    if lookups.deliveries_since(config.project_id, minute_ago, limit) >= limit:
        return _finish(
            delivery, 429, Decision.REJECTED, f"rate limit of {limit} requests a minute reached"
        )
    valid, why = receiver.verify(headers, body, config.secret or "")
    delivery.signature_valid = valid
    if not valid:
        return _finish(delivery, 401, Decision.REJECTED, why)
    if not config.enabled:
        return _finish(delivery, 403, Decision.REJECTED, "webhooks are disabled for this project")
    return _act(delivery, receiver, config, body, check_duplicates=True)


def redeliver(actor: Any, original: Delivery, *, request: HttpRequest | None = None) -> Answer:
    """Decide again on a stored, verified delivery (duplicate checks skipped)."""
    receiver = RECEIVERS.get(original.provider)
    if receiver is None or original.project is None or not original.signature_valid:
        raise ProjectError("Only a delivery with a valid signature can be redelivered.")
    if original.payload_size > STORED_PAYLOAD_BYTES:
        raise ProjectError("This delivery's body was too large to keep; push again instead.")
    config = config_of(original.project)
    if not config.enabled:
        raise ProjectError("Webhooks are disabled for this project; enable them first.")
    delivery = Delivery(
        team=original.team,
        project=original.project,
        provider=original.provider,
        event=original.event,
        delivery_id=original.delivery_id,
        headers=original.headers,
        payload=original.payload,
        payload_size=original.payload_size,
        signature_valid=True,
        redelivery_of=original,
        remote_addr=audit.client_ip(request),
    )
    answer = _act(delivery, receiver, config, original.payload.encode(), check_duplicates=False)
    audit.record(
        "webhook.redelivered", actor=actor, team=original.team, target=original.project,
        request=request, details={"delivery": original.pk, "new_delivery": delivery.pk},
    )  # fmt: skip
    return answer


def _act(
    delivery: Delivery,
    receiver: Receiver,
    config: WebhookConfig,
    body: bytes,
    *,
    check_duplicates: bool,
) -> Answer:
    try:
        payload = json.loads(body)
        event = receiver.parse(delivery.event, payload)
    except (ValueError, PayloadError) as error:
        return _finish(delivery, 400, Decision.REJECTED, f"malformed body: {error}")
    if event.kind == "ping":
        return _finish(delivery, 200, Decision.IGNORED, "ping answered: the webhook is set up")
    if event.kind != "push":
        return _finish(delivery, 202, Decision.IGNORED, f"event {event.name!r} is not a push")
    if check_duplicates and delivery.delivery_id:
        first = lookups.first_delivery(config.project_id, delivery.provider, delivery.delivery_id)
        if first is not None:
            return _finish(
                delivery, 200, Decision.IGNORED,
                f"duplicate delivery {delivery.delivery_id} (first received as #{first})",
            )  # fmt: skip
    plan, ignored = _plan(config, event)
    head = event.pushes[0] if event.pushes else None
    if head is not None:
        delivery.ref, delivery.commit_sha = head.ref[:250], head.sha[:40]
        delivery.commit_message = head.message[:500]
    if not plan:
        return _finish(delivery, 202, Decision.IGNORED, "; ".join(ignored) or "nothing to deploy")
    delivery.plan = plan
    return _start(delivery, ignored, check_duplicates=check_duplicates)


def _plan(config: WebhookConfig, event: Event) -> tuple[list[dict[str, Any]], list[str]]:
    """Which environment gets which commit, and why the other pushes deploy nothing."""
    environments = lookups.environments(config.project_id)
    branches = sorted({env.branch for env in environments})
    plan: list[dict[str, Any]] = []
    ignored: list[str] = []
    for push in event.pushes:
        if push.deleted:
            ignored.append(f"{push.ref} was deleted")
            continue
        if push.tag:
            target = next((e for e in environments if e.pk == config.tag_environment_id), None)
            if target is None:
                ignored.append(f"tag {push.tag}: tag pushes are not deployed for this project")
                continue
            plan.append(_step(target, push))
            continue
        matched = [env for env in environments if env.branch == push.branch]
        if not matched:
            wanted = " or ".join(branches) or "no branch"
            ignored.append(f"branch {push.branch or push.ref} is not {wanted}")
        plan.extend(_step(env, push) for env in matched)
    return plan, ignored


def _step(environment: lookups.EnvironmentRow, push: Push) -> dict[str, Any]:
    return {"environment_id": environment.pk, "environment": environment.name,
            "ref": push.ref, "sha": push.sha}  # fmt: skip


def _start(delivery: Delivery, ignored: list[str], *, check_duplicates: bool) -> Answer:
    """Queue one deployment per planned environment; on a queueing failure, retry later."""
    started: list[Deployment] = []
    notes = list(ignored)
    delivery.decision, delivery.reason, delivery.http_status = Decision.RETRYING, "", 202
    # Recorded before anything can fail; if this process dies now, the scheduler retries it.
    delivery.next_attempt_at = timezone.now() + timedelta(minutes=1)
    delivery.save()
    try:
        with transaction.atomic():
            for step in delivery.plan:
                environment = Environment.objects.select_related("project").get(
                    pk=step["environment_id"]
                )
                if check_duplicates:
                    earlier = _same_commit_deployment(environment, step["sha"])
                    if earlier is not None:
                        notes.append(
                            f"{environment.name}: {step['sha'][:8]} was already deployed by "
                            f"this webhook (deployment #{earlier.pk})"
                        )
                        continue
                started.append(
                    deployments.request_deployment(
                        None,
                        environment,
                        trigger=DeployTrigger.WEBHOOK,
                        commit_sha=step["sha"],
                        if_busy="wait",
                    )
                )
                notes.append(f"{environment.name}: deploying {step['sha'][:8]}")
    except Exception as error:  # the database or broker refused: keep the delivery, retry it
        return _retry_later(delivery, f"could not queue the deployment ({error})")
    unqueued = [d for d in started if _failed_to_queue(d)]
    if unqueued:
        return _retry_later(delivery, unqueued[0].job.error if unqueued[0].job else "")
    delivery.deployments.set(started)
    decision = Decision.DEPLOYED if started else Decision.IGNORED
    answer = _finish(delivery, 202, decision, "; ".join(notes))
    answer.deployment_ids = [d.pk for d in started]
    return answer


def _same_commit_deployment(environment: Environment, sha: str) -> Deployment | None:
    since = timezone.now() - SAME_COMMIT_WINDOW
    return (
        Deployment.objects.filter(
            environment=environment,
            trigger=DeployTrigger.WEBHOOK,
            requested_sha=sha,
            created_at__gte=since,
        )
        .exclude(job__status=JobStatus.FAILED, job__error__startswith="Could not queue")
        .order_by("created_at")
        .first()
    )


def _failed_to_queue(deployment: Deployment) -> bool:
    job = deployment.job
    if job is None:
        return True
    job.refresh_from_db(fields=["status", "error"])
    return job.status == JobStatus.FAILED and job.error.startswith("Could not queue")


def _retry_later(delivery: Delivery, why: str) -> Answer:
    delivery.attempts += 1
    if delivery.attempts >= MAX_ATTEMPTS:
        return _finish(
            delivery, 202, Decision.FAILED, f"gave up after {delivery.attempts} attempts: {why}"
        )
    wait = min(10 * 2 ** (delivery.attempts - 1), 600)
    delivery.next_attempt_at = timezone.now() + timedelta(seconds=wait)
    return _finish(
        delivery, 202, Decision.RETRYING,
        f"{why}; attempt {delivery.attempts} of {MAX_ATTEMPTS}, next in {wait} s",
    )  # fmt: skip


def retry(delivery: Delivery) -> Answer:
    """Try a delivery whose deployment could not be queued again (the scheduler calls this)."""
    return _start(delivery, [], check_duplicates=True)


def _finish(delivery: Delivery, status: int, decision: str, reason: str) -> Answer:
    delivery.http_status = status
    delivery.decision = decision
    delivery.reason = reason[:500]
    if decision != Decision.RETRYING:
        delivery.next_attempt_at = None
    delivery.save()
    return Answer(status, delivery)


def purge_old(now: Any = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.DEVFLOW_WEBHOOK_RETENTION_DAYS)
    _, deleted = Delivery.objects.filter(received_at__lt=cutoff).delete()
    return deleted.get(Delivery._meta.label, 0)
