"""Job kinds for projects: refresh the branch's latest commits from the remote."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from devflow.core.jobs import JobError, JobKind, register
from devflow.deployments import remote
from devflow.deployments.models import Deployment
from devflow.deployments.pipeline import Pipeline, StepFailed
from devflow.deployments.releases import record_commits
from devflow.projects.models import Environment
from devflow.projects.services import variables_of


@register
class RefreshCommits(JobKind):
    """Fetch the cached mirror on the environment's first server and list the branch's head."""

    name = "projects.refresh_commits"
    label = "Refresh commits"
    timeout_seconds = 300
    wait_for_lock = True  # shares the mirror with deployments

    def lock_key(self) -> str | None:
        return f"project:{self.environment.project_id}"

    @property
    def environment(self) -> Environment:
        if not hasattr(self, "_environment"):
            environment = (
                Environment.objects.select_related("project")
                .filter(
                    pk=int(self.params.get("environment_id") or 0),
                    project__team_id=self.job.team_id or 0,
                )
                .first()
            )
            if environment is None:
                raise JobError("The environment no longer exists.")
            self._environment = environment
        return self._environment

    def run(self) -> dict[str, Any]:
        from devflow.deployments.services import pipeline_snapshot

        environment = self.environment
        project = environment.project
        snapshot = pipeline_snapshot(project, environment)
        snapshot["server_ids"] = snapshot["server_ids"][:1]
        # A throw-away deployment object carries the snapshot; it is never saved.
        probe = Deployment(
            team=project.team, project=project, environment=environment, pipeline_snapshot=snapshot
        )
        probe.set_environment_variables(variables_of(environment))
        pipeline = Pipeline(self, probe)
        try:
            pipeline.connect()
            host = pipeline.hosts[0]
            command = remote.fetch(
                snapshot["deploy_path"], project.repository_url, environment.branch,
                key_path=pipeline.install_deploy_key(host), log_count=20,
            )  # fmt: skip
            result = pipeline.run_on(host, command, timeout=pipeline.timeout, what="git fetch")
        except StepFailed as failed:
            close_old_connections()
            Environment.objects.filter(pk=environment.pk).update(commits_error=str(failed)[:500])
            raise
        record_commits(environment, result.stdout)
        environment.refresh_from_db()
        return {"head": environment.head_sha, "behind": environment.behind_count}
