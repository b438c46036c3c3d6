"""Job kind: send queued deliveries (one job per event, each channel in turn)."""

from __future__ import annotations

from typing import Any

from devflow.core.jobs import JobKind, register
from devflow.notifications import services
from devflow.notifications.models import DeliveryStatus


@register
class DeliverNotifications(JobKind):
    name = "notifications.deliver"
    label = "Send notifications"
    timeout_seconds = 300
    keep_days = 7

    def run(self) -> dict[str, Any]:
        sent = failed = retrying = 0
        # The try this job was queued for, per delivery (older jobs: whatever is next).
        expected: dict[str, int] = self.params.get("attempts", {})
        for delivery in services.pending_for(self.params.get("delivery_ids", [])):
            self.check_cancelled()
            done = services.deliver(
                delivery,
                retries=0 if delivery.is_test else 2,
                expected=expected.get(str(delivery.pk)),
            )
            if done.status == DeliveryStatus.SENT:
                sent += 1
                self.log(f"{delivery.channel.name}: sent.")
            elif done.status == DeliveryStatus.PENDING:
                retrying += 1
                when = f"{done.next_attempt_at:%H:%M:%S} UTC" if done.next_attempt_at else "later"
                self.log(f"{delivery.channel.name}: {done.error or 'taken'}; next try {when}.")
            else:
                failed += 1
                self.log(f"{delivery.channel.name}: {done.error}")
        return {"sent": sent, "failed": failed, "retrying": retrying}
