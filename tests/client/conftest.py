from __future__ import annotations

from tests.deployments.conftest import git_repo, make_project  # noqa: F401  (fixtures)
from tests.servers.conftest import client_key, make_server  # noqa: F401  (fixtures)
