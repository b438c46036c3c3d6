"""Webhooks over HTTP: real provider payloads, signed as each provider signs, then deployed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from devflow.core.jobs import send_to_queue as real_send_to_queue
from devflow.core.models import JobStatus
from devflow.deployments.models import Deployment, DeployTrigger
from devflow.projects.models import Project
from devflow.webhooks import retries, services
from devflow.webhooks.models import Decision, Delivery
from devflow.webhooks.providers.base import signature_matches
from tests.deployments.conftest import current_of, log_of, run_deployment
from tests.webhooks.conftest import payload, post, signed_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_queue")]


def test_githubs_published_signature_test_vector() -> None:
    """From GitHub's "Validating webhook deliveries" documentation."""
    secret = "It's a Secret to Everybody"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert signature_matches(secret, b"Hello, World!", expected)
    assert not signature_matches(secret, b"Hello, World?", expected)
    assert not signature_matches("another secret", b"Hello, World!", expected)


@pytest.fixture
def site(git_repo, sshd_server, make_server, make_project):  # type: ignore[no-untyped-def]
    """A project on a real sshd server whose environment follows `master`, as in the payloads."""
    repo = git_repo("site")
    repo.commit({"index.html": "<h1>Master</h1>\n"}, "Start master", branch="master")
    project = make_project(repo, [make_server(sshd_server)], branch="master")
    config = services.config_of(project)
    return repo, project, config


def github_push(sha: str, ref: str = "refs/heads/master") -> bytes:
    body = payload("github_push.json")
    body["ref"], body["after"] = ref, sha
    body["head_commit"]["id"] = sha
    return json.dumps(body).encode()


def send(hook_url, provider: str, config, body: bytes, event: str = "", **extra: str):  # type: ignore[no-untyped-def]
    headers = {**signed_headers(provider, config.secret, body, event), **extra}
    return post(hook_url(provider, config.public_id), body, headers)


def deploy_and_check(deployment: Deployment, sha: str) -> None:
    deployment = run_deployment(deployment)
    assert deployment.job is not None
    assert deployment.job.status == JobStatus.SUCCEEDED, log_of(deployment)
    assert deployment.commit_sha == sha and deployment.trigger == DeployTrigger.WEBHOOK
    path = Path(deployment.environment.deploy_path)
    assert (path / "current" / "REVISION").read_text().strip() == sha
    assert current_of(path) == deployment.release_name


def test_a_github_push_deploys_the_pushed_commit(site, hook_url, client, alice) -> None:  # type: ignore[no-untyped-def]
    repo, project, config = site
    sha = repo.commit({"index.html": "<h1>Version 2</h1>\n"}, "Second", branch="master")
    repo.commit({"index.html": "<h1>Version 3</h1>\n"}, "Third", branch="master")
    status, answer = send(hook_url, "github", config, github_push(sha))
    assert status == 202, answer
    assert answer["decision"] == "deployed", answer
    assert answer["reason"] == f"production: deploying {sha[:8]}"
    delivery = Delivery.objects.get(pk=answer["delivery"])
    assert delivery.provider == "github" and delivery.event == "push"
    assert delivery.signature_valid is True and delivery.http_status == 202
    assert delivery.delivery_id and delivery.ref == "refs/heads/master"
    assert delivery.commit_sha == sha and delivery.project == project
    assert "X-Hub-Signature-256" not in delivery.headers and delivery.payload.startswith("{")
    deployment = Deployment.objects.get(pk=answer["deployments"][0])
    # The pushed commit is deployed, not the branch's newer head.
    deploy_and_check(deployment, sha)
    client.force_login(alice)
    page = client.get(f"/deployments/{deployment.pk}/").content.decode()
    assert f"GitHub delivery #{delivery.pk}" in page  # the deployment says which push started it


def test_a_github_ping_is_answered(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    _, _, config = site
    body = json.dumps(payload("github_ping.json")).encode()
    status, answer = send(hook_url, "github", config, body, event="ping")
    assert status == 200 and answer["reason"] == "ping answered: the webhook is set up"
    assert not Deployment.objects.exists()


def test_gitlab_push_and_tag_push(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    repo, project, config = site
    sha = repo.commit({"index.html": "<h1>GitLab</h1>\n"}, "From GitLab", branch="master")
    body = payload("gitlab_push.json")
    for commit in body["commits"]:
        if commit["id"] == body["after"]:
            commit["id"] = sha
    body["after"] = body["checkout_sha"] = sha
    status, answer = send(hook_url, "gitlab", config, json.dumps(body).encode())
    assert status == 202 and answer["decision"] == "deployed", answer
    deploy_and_check(Deployment.objects.get(pk=answer["deployments"][0]), sha)

    tag = payload("gitlab_tag_push.json")
    tag["after"] = tag["checkout_sha"] = sha
    tag_body = json.dumps(tag).encode()
    status, answer = send(hook_url, "gitlab", config, tag_body, event="Tag Push Hook")
    assert status == 202 and answer["decision"] == "ignored"
    assert answer["reason"] == "tag v1.0.0: tag pushes are not deployed for this project"

    config.tag_environment = project.environments.get()
    config.save()
    status, answer = send(hook_url, "gitlab", config, tag_body, event="Tag Push Hook")
    # The same commit went out minutes ago: deploying it again would change nothing.
    assert answer["decision"] == "ignored" and "was already deployed" in answer["reason"]


def test_a_bitbucket_push_deploys(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "<h1>Bitbucket</h1>\n"}, "From Bitbucket", branch="master")
    body = payload("bitbucket_push.json")
    change = body["push"]["changes"][0]
    change["new"]["name"] = "master"
    change["new"]["target"]["hash"] = sha
    status, answer = send(hook_url, "bitbucket", config, json.dumps(body).encode())
    assert status == 202 and answer["decision"] == "deployed", answer
    deploy_and_check(Deployment.objects.get(pk=answer["deployments"][0]), sha)


def test_a_custom_ci_push_deploys_and_malformed_bodies_are_refused(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "<h1>CI</h1>\n"}, "From CI", branch="master")
    body = json.dumps({"ref": "master", "sha": sha, "message": "Build 42"}).encode()
    status, answer = send(hook_url, "custom", config, body)
    assert status == 202 and answer["decision"] == "deployed", answer
    deploy_and_check(Deployment.objects.get(pk=answer["deployments"][0]), sha)

    for bad, why in [
        (b"not json", "malformed body"),
        (json.dumps({"ref": "master", "sha": "main;id"}).encode(), "full 40-character commit"),
        (json.dumps({"sha": sha}).encode(), "the body has no ref"),
    ]:
        status, answer = send(hook_url, "custom", config, bad)
        assert status == 400 and why in answer["reason"], answer
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize("provider", ["github", "gitlab", "bitbucket", "custom"])
def test_forged_or_unsigned_requests_never_deploy(site, hook_url, provider: str) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "forged\n"}, "Forged", branch="master")
    body = github_push(sha)
    forged = signed_headers(provider, "not-the-secret", body)
    status, answer = post(hook_url(provider, config.public_id), body, forged)
    assert status == 401 and answer["reason"] in ("signature mismatch", "token mismatch")
    unsigned = {k: v for k, v in forged.items() if "Signature" not in k and "Token" not in k}
    status, answer = post(hook_url(provider, config.public_id), body, unsigned)
    assert status == 401 and answer["reason"].startswith("no X-")
    assert not Deployment.objects.exists()
    rows = Delivery.objects.filter(provider=provider)
    assert rows.count() == 2 and not rows.filter(signature_valid=True).exists()
    # GitLab's token is the secret itself: it is never stored with the delivery.
    assert all("X-Gitlab-Token" not in row.headers for row in rows)


def test_replayed_deliveries_and_repeated_commits_start_one_deployment(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "v2\n"}, "Second", branch="master")
    body = github_push(sha)
    headers = signed_headers("github", config.secret, body)
    url = hook_url("github", config.public_id)
    assert post(url, body, headers)[0] == 202
    status, answer = post(url, body, headers)  # the same delivery id: a replay
    assert status == 200 and answer["reason"].startswith(
        f"duplicate delivery {headers['X-GitHub-Delivery']}"
    )
    status, answer = send(hook_url, "github", config, body)  # a new id, the same commit
    assert status == 202 and answer["decision"] == "ignored"
    assert "was already deployed by this webhook" in answer["reason"]
    assert Deployment.objects.count() == 1


def test_other_branches_deleted_branches_and_other_events_deploy_nothing(site, hook_url) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "dev\n"}, "Dev work", branch="develop")
    status, answer = send(hook_url, "github", config, github_push(sha, "refs/heads/develop"))
    assert status == 202 and answer["reason"] == "branch develop is not master"
    status, answer = send(hook_url, "github", config, github_push("0" * 40))
    assert answer["reason"] == "refs/heads/master was deleted"
    status, answer = send(hook_url, "github", config, b"{}", event="issues")
    assert status == 202 and answer["reason"] == "event 'issues' is not a push"
    assert not Deployment.objects.exists()


def test_guards_answer_with_their_codes_and_are_recorded(site, hook_url, live_server) -> None:  # type: ignore[no-untyped-def]
    repo, project, config = site
    sha = repo.commit({"index.html": "v2\n"}, "Second", branch="master")
    body = github_push(sha)
    headers = signed_headers("github", config.secret, body)

    status, answer = post(hook_url("github", "no-such-project"), body, headers)
    assert status == 404 and answer["reason"] == "no project has this webhook URL"
    status, answer = post(hook_url("gitea", config.public_id), body, headers)
    assert status == 404 and answer["reason"] == "unknown provider 'gitea'"

    huge = b'{"pad": "' + b"x" * (services.MAX_BODY_BYTES + 10) + b'"}'
    status, answer = send(hook_url, "github", config, huge)
    assert status == 413 and "over the 1048576 byte limit" in answer["reason"]

    config.enabled = False
    config.save()
    status, answer = send(hook_url, "github", config, body)
    assert status == 403 and answer["reason"] == "webhooks are disabled for this project"
    config.enabled = True
    config.rate_limit_per_minute = Delivery.objects.filter(project=project).count() + 1
    config.save()
    assert send(hook_url, "github", config, github_push(sha, "refs/heads/x"))[0] == 202
    status, answer = send(hook_url, "github", config, body)
    assert status == 429 and "rate limit" in answer["reason"]

    assert not Deployment.objects.exists()
    codes = sorted(Delivery.objects.values_list("http_status", flat=True))
    assert codes == [202, 403, 404, 404, 413, 429]
    assert Delivery.objects.get(http_status=413).payload == ""  # not kept


def test_a_delivery_whose_deployment_cannot_be_queued_is_retried_not_dropped(
    site, hook_url, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "v2\n"}, "Second", branch="master")

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr("devflow.core.jobs.send_to_queue", real_send_to_queue)
    monkeypatch.setattr("devflow.core.tasks.run_job.apply_async", broker_down)
    status, answer = send(hook_url, "github", config, github_push(sha))
    assert status == 202 and answer["decision"] == "retrying", answer
    assert "broker is unreachable" in answer["reason"] and "attempt 1 of 8" in answer["reason"]
    delivery = Delivery.objects.get(pk=answer["delivery"])
    assert delivery.next_attempt_at is not None

    monkeypatch.setattr("devflow.core.tasks.run_job.apply_async", lambda *a, **k: None)
    assert retries.retry_due(timezone.now()) == []  # not due yet
    assert retries.retry_due(timezone.now() + timedelta(minutes=5)) == [delivery.pk]
    delivery.refresh_from_db()
    assert delivery.decision == Decision.DEPLOYED, delivery.reason
    deployment = delivery.deployments.get()
    deploy_and_check(deployment, sha)


def test_redeliver_decides_again_and_old_deliveries_expire(site, hook_url, alice, settings) -> None:  # type: ignore[no-untyped-def]
    repo, _, config = site
    sha = repo.commit({"index.html": "v2\n"}, "Second", branch="master")
    _, answer = send(hook_url, "github", config, github_push(sha))
    first = Delivery.objects.get(pk=answer["delivery"])
    again = services.redeliver(alice, first)
    assert again.status == 202 and again.delivery.redelivery_of == first
    assert again.delivery.decision == Decision.DEPLOYED  # redelivery skips the duplicate checks
    assert Deployment.objects.count() == 2

    settings.DEVFLOW_WEBHOOK_RETENTION_DAYS = 7
    Delivery.objects.filter(pk=first.pk).update(received_at=timezone.now() - timedelta(days=8))
    assert services.purge_old() == 1
    assert Delivery.objects.count() == 1
    assert Project.objects.count() == 1
