"""Projects pages use the deployments fixtures: git repositories, this machine, projects."""

from __future__ import annotations

from tests.deployments.conftest import (  # noqa: F401  (fixtures)
    bob_client,
    git_repo,
    local_server,
    make_project,
    no_queue,
    production,
    web1,
)
