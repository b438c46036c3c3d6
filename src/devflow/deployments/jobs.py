"""The deploy and rollback job: takes the project lock and drives the pipeline."""

from __future__ import annotations

from typing import Any

from devflow.core.jobs import JobCancelled, JobError, JobKind, JobTimedOut, register
from devflow.core.models.jobs import LogStream
from devflow.deployments import notices, releases
from devflow.deployments.models import Deployment, Release, ReleaseStatus
from devflow.deployments.pipeline import Pipeline
from devflow.projects.models import Environment


@register
class DeployJob(JobKind):
    name = "deployments.deploy"
    label = "Deployment"
    timeout_seconds = 900  # each deployment sets its own cap from the project

    @property
    def deployment(self) -> Deployment:
        if not hasattr(self, "_deployment"):
            deployment = (
                Deployment.objects.select_related("project", "environment", "rollback_of")
                .filter(
                    pk=int(self.params.get("deployment_id") or 0), team_id=self.job.team_id or 0
                )
                .first()
            )
            if deployment is None:
                raise JobError("The deployment no longer exists.")
            self._deployment = deployment
        return self._deployment

    def lock_key(self) -> str | None:
        return f"project:{self.params.get('project_id')}"

    def waits_for_lock(self) -> bool:
        # "wait": held in the queue behind the running deployment; "fail": refused.
        return self.params.get("if_busy") == "wait"

    def ended(self, status: str, error: str) -> None:
        notices.announce_outcome(self.deployment, status, error)

    def run(self) -> dict[str, Any]:
        deployment = self.deployment
        pipeline = Pipeline(self, deployment)
        if deployment.rollback_of_id:
            return self._rollback(pipeline, deployment)
        return self._deploy(pipeline, deployment)

    # A deploy ------------------------------------------------------------------
    def _deploy(self, pipeline: Pipeline, deployment: Deployment) -> dict[str, Any]:
        environment: Environment = deployment.environment
        snapshot = deployment.pipeline_snapshot
        releases.mark_abandoned(environment)
        total = 10
        with pipeline.step("connect", "Connect to servers", total):
            pipeline.connect()
        with pipeline.step("fetch", "Fetch repository", total):
            pipeline.fetch()
        release = Release.objects.create(
            environment=environment,
            deployment=deployment,
            name=releases.new_release_name(deployment),
            commit_sha=deployment.commit_sha,
        )
        Deployment.objects.filter(pk=deployment.pk).update(release_name=release.name)
        try:
            with pipeline.step(
                "prepare", "Check out release, link shared paths, write .env", total
            ):
                pipeline.prepare(release)
            directory = self._dir(pipeline, release)
            self._hooks(pipeline, "build", "Build", "build_commands", directory, total)
            self._hooks(pipeline, "deploy_hooks", "Deploy commands", "deploy_commands", directory,
                        total)  # fmt: skip
            with pipeline.step("smoke", "Smoke check in the new release", total) as step:
                if not pipeline.smoke(release):
                    step.skip("No smoke check configured.")
        except BaseException:
            Release.objects.filter(pk=release.pk).update(status=ReleaseStatus.FAILED)
            pipeline.remove_release(release.name)
            self._outcome(deployment, "Failed before the switch; the live release is untouched.")
            raise
        self._go_live(pipeline, deployment, release, total)
        with pipeline.step("purge", "Keep the newest releases, remove older ones", total):
            keep = releases.names_to_keep(environment, int(snapshot.get("keep_releases", 5)))
            pipeline.purge(keep)
            purged = releases.mark_purged(environment, keep)
        message = f"Release {release.name} ({deployment.short_sha}) is live."
        self._outcome(deployment, message)
        self._caught_up(environment, deployment.commit_sha)
        return {"release": release.name, "commit": deployment.commit_sha, "purged": purged}

    @staticmethod
    def _hooks(
        pipeline: Pipeline, key: str, label: str, field: str, directory: str, total: int
    ) -> None:
        hooks = pipeline.snapshot.get(field, [])
        with pipeline.step(key, label, total) as step:
            if not hooks:
                step.skip(f"No {label.lower()} configured.")
            pipeline.run_hooks(hooks, directory)

    @staticmethod
    def _dir(pipeline: Pipeline, release: Release) -> str:
        return f"{pipeline.base}/releases/{release.name}"

    def _go_live(
        self, pipeline: Pipeline, deployment: Deployment, release: Release | None, total: int
    ) -> None:
        """Swap, run post-deploy hooks, check health; undo the swap if any of it fails."""
        name = release.name if release else deployment.release_name
        try:
            with pipeline.step("swap", f"Switch current to {name}", total):
                pipeline.swap(name)
            if release is not None:
                releases.activate(release)
            else:
                target = deployment.rollback_of
                assert target is not None
                releases.activate(target)
            self._hooks(pipeline, "post_deploy", "Post-deploy commands", "post_deploy_commands",
                        f"{pipeline.base}/current", total)  # fmt: skip
            with pipeline.step("health", "Health check", total) as step:
                if not pipeline.health():
                    step.skip("No health check URL set for this environment.")
        except BaseException as error:
            self._recover(pipeline, deployment, release, error)
            raise

    def _recover(
        self,
        pipeline: Pipeline,
        deployment: Deployment,
        release: Release | None,
        error: BaseException,
    ) -> None:
        switched = any(host.swapped for host in pipeline.hosts)
        notes = pipeline.undo_swaps()
        previous = next((h.previous for h in pipeline.hosts if h.previous), "")
        if any("re-pointed" in note for note in notes):
            releases.restore(deployment.environment, previous, release)
            pipeline.restart_previous(deployment.pipeline_snapshot.get("post_deploy_commands", []))
        elif release is not None and not switched:
            Release.objects.filter(pk=release.pk).update(status=ReleaseStatus.FAILED)
            pipeline.remove_release(release.name)
        # Otherwise (a first deploy) the new release stays live: there is nothing to go back to.
        if isinstance(error, JobCancelled):
            cause = "Cancelled"
        elif isinstance(error, JobTimedOut):
            cause = "Stopped at the time limit"
        else:
            cause = str(error) or type(error).__name__
        summary = "; ".join(notes) if notes else "nothing had been switched"
        self.log(f"Recovered: {summary}.", LogStream.STDERR)
        self._outcome(deployment, f"{cause}. {summary}.")
        if not isinstance(error, (JobCancelled, JobTimedOut)) and notes:
            raise JobError(f"{cause}; {summary}.") from None

    # A rollback ------------------------------------------------------------------
    def _rollback(self, pipeline: Pipeline, deployment: Deployment) -> dict[str, Any]:
        target = deployment.rollback_of
        assert target is not None
        total = 5
        with pipeline.step("connect", "Connect to servers", total):
            pipeline.connect()
        with pipeline.step("restore_env", f"Restore the environment of {target.name}", total):
            try:
                pipeline.write_env(target.name)
            except JobError as error:
                if "purged" in str(error):
                    Release.objects.filter(pk=target.pk).update(status=ReleaseStatus.PURGED)
                    raise JobError(
                        f"Release {target.name} is no longer on the server ({error}); "
                        "redeploy its commit instead."
                    ) from None
                raise
        self._go_live(pipeline, deployment, None, total)
        message = f"Rolled back: release {target.name} ({target.commit_sha[:8]}) is live again."
        self._outcome(deployment, message)
        self._caught_up(deployment.environment, target.commit_sha)
        return {"release": target.name, "commit": target.commit_sha}

    # Recording -------------------------------------------------------------------
    @staticmethod
    def _outcome(deployment: Deployment, message: str) -> None:
        Deployment.objects.filter(pk=deployment.pk).update(outcome=message[:1000])

    @staticmethod
    def _caught_up(environment: Environment, sha: str) -> None:
        """How many commits of the branch the live release is behind, from the cached list."""
        commits = (
            Environment.objects.filter(pk=environment.pk).values_list("commits", flat=True).first()
        ) or []
        shas = [c.get("sha") for c in commits]
        behind = shas.index(sha) if sha in shas else None
        Environment.objects.filter(pk=environment.pk).update(behind_count=behind)
