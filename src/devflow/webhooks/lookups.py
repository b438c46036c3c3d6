"""The endpoint's reads, as plain SQL: building these queries through the ORM cost more
than running them (bench/webhooks.py), and the endpoint answers machines in bursts.

Table names come from the models (the S608 warnings below); values are always parameters.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db import connection

from devflow.projects.models import Environment, Project
from devflow.webhooks.models import Decision, Delivery, WebhookConfig


class EnvironmentRow(NamedTuple):
    pk: int
    name: str
    branch: str


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


def webhook_config(public_id: str) -> tuple[WebhookConfig, int] | None:
    """The config behind a webhook URL (secret in clear) and its project's team id."""
    sql = (
        f"SELECT c.id, c.project_id, c.secret, c.enabled, c.rate_limit_per_minute, "  # noqa: S608
        f"c.tag_environment_id, p.team_id FROM {_table(WebhookConfig)} c "
        f"JOIN {_table(Project)} p ON p.id = c.project_id WHERE c.public_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [public_id])
        row = cursor.fetchone()
    if row is None:
        return None
    secret_field = WebhookConfig._meta.get_field("secret")
    secret: str = secret_field.from_db_value(row[2], None, connection) or ""
    config = WebhookConfig(
        id=row[0],
        project_id=row[1],
        public_id=public_id,
        secret=secret,
        enabled=bool(row[3]),
        rate_limit_per_minute=row[4],
        tag_environment_id=row[5],
    )
    return config, row[6]


def deliveries_since(project_id: int, since: datetime, limit: int) -> int:
    """How many deliveries the project received since `since`, counting up to `limit`."""
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {_table(Delivery)} "  # noqa: S608
        f"WHERE project_id = %s AND received_at >= %s LIMIT %s) recent"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id, connection.ops.adapt_datetimefield_value(since), limit])
        return int(cursor.fetchone()[0])


def first_delivery(project_id: int, provider: str, delivery_id: str) -> int | None:
    """The id of the first verified, not rejected delivery with this provider's id."""
    sql = (
        f"SELECT id FROM {_table(Delivery)} WHERE project_id = %s AND provider = %s "  # noqa: S608
        f"AND delivery_id = %s AND signature_valid = %s AND redelivery_of_id IS NULL "
        f"AND decision <> %s ORDER BY id LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id, provider, delivery_id, True, Decision.REJECTED.value])
        row = cursor.fetchone()
    return int(row[0]) if row else None


def environments(project_id: int) -> list[EnvironmentRow]:
    table = _table(Environment)
    sql = f"SELECT id, name, branch FROM {table} WHERE project_id = %s ORDER BY id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id])
        return [EnvironmentRow(*row) for row in cursor.fetchall()]
