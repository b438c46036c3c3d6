"""The embedded broker never hands a consumer a half-written message."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
from typing import Any

from kombu import Connection

from devflow.broker import install


def _options(folder: str) -> dict[str, Any]:
    return {
        "data_folder_in": folder,
        "data_folder_out": folder,
        "control_folder": folder,
        "store_processed": False,
        "polling_interval": 0.0005,
    }


def _produce(folder: str, count: int) -> None:
    install()
    with Connection("filesystem://", transport_options=_options(folder)) as connection:
        queue = connection.SimpleQueue("jobs")
        for number in range(count):
            queue.put({"number": number, "padding": "x" * 2000})


def test_a_consumer_racing_a_producer_reads_every_message_whole() -> None:
    """kombu's own transport fails this now and then (a message read while still empty)."""
    install()
    folder = tempfile.mkdtemp(prefix="devflow-broker-")
    count = 4000
    producer = multiprocessing.get_context("fork").Process(target=_produce, args=(folder, count))
    producer.start()
    received: list[int] = []
    with Connection("filesystem://", transport_options=_options(folder)) as connection:
        queue = connection.SimpleQueue("jobs")
        deadline = time.monotonic() + 120
        while len(received) < count and time.monotonic() < deadline:
            try:
                message = queue.get(timeout=1)
            except queue.Empty:
                if not producer.is_alive() and not os.listdir(folder):
                    break
                continue
            received.append(message.payload["number"])
            message.ack()
    producer.join(30)
    assert sorted(received) == list(range(count))
    assert [name for name in os.listdir(folder) if name.endswith(".partial")] == []
