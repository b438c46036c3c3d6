"""The Celery application: embedded filesystem broker by default, Redis when REDIS_URL is set."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_ready

from devflow.broker import install as install_atomic_filesystem_broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "devflow.settings")
install_atomic_filesystem_broker()

app = Celery("devflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=False,
    broker_connection_retry_on_startup=True,
    worker_send_task_events=False,
    task_send_sent_event=False,
    imports=["devflow.core.tasks"],
)


def ensure_broker_dirs() -> None:
    """Create the embedded broker's folders (the filesystem transport does not)."""
    from django.conf import settings

    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            os.makedirs(options[key], exist_ok=True)


@worker_ready.connect
def _reconcile_on_start(**_: object) -> None:
    from django.db import close_old_connections

    from devflow.core.scheduler import reconcile_orphans

    close_old_connections()
    reconcile_orphans()
