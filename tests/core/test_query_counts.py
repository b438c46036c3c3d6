"""List pages run a fixed number of queries, whatever the number of rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devflow.core import audit
from devflow.core.models import Job

pytestmark = pytest.mark.django_db


def queries_for(client, path: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def add_rows(team, actor, count: int) -> None:  # type: ignore[no-untyped-def]
    for n in range(count):
        Job.objects.create(team=team, kind="tests.steps", actor=actor, target_label=f"t{n}")
        audit.record("thing.done", actor=actor, team=team, target_label=f"t{n}")


@pytest.mark.parametrize("path", ["/", "/jobs/", "/activity/", "/teams/"])
def test_list_pages_do_not_query_per_row(alice_client, alice, acme, bob, path):
    add_rows(acme, alice, 2)
    few = queries_for(alice_client, path)
    add_rows(acme, bob, 30)
    many = queries_for(alice_client, path)
    assert many == few, f"{path}: {few} queries with few rows, {many} with many"
