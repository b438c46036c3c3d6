"""WebSocket consumers: a job's log, streamed as it is written."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from devflow.core.jobs import log_update
from devflow.core.models import Job


class JobLogConsumer(AsyncJsonWebsocketConsumer):
    """Send new log lines of one job (that the user may view) until it finishes."""

    poll_seconds = 0.5

    async def connect(self) -> None:
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        user = self.scope.get("user")
        if not await self._may_view(user):
            await self.close(code=4404)
            return
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.after = int(query.get("after", ["-1"])[0])
        except ValueError:
            self.after = -1
        self.task = asyncio.create_task(self._stream())

    async def disconnect(self, code: int) -> None:
        task = getattr(self, "task", None)
        if task is not None:
            task.cancel()

    @database_sync_to_async
    def _may_view(self, user: Any) -> bool:
        return Job.objects.for_user(user).filter(pk=self.job_id).exists()

    @database_sync_to_async
    def _read(self) -> dict[str, Any]:
        return log_update(self.job_id, self.after)

    async def _stream(self) -> None:
        while True:
            update = await self._read()
            lines, job = update["lines"], update["job"]
            if lines:
                self.after = lines[-1]["seq"]
            await self.send_json(update)
            if job["status"] not in ("queued", "running") and not lines:
                await self.close()
                return
            await asyncio.sleep(self.poll_seconds)
