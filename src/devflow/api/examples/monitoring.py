"""OpenAPI examples for the monitoring app's components (see devflow.api.examples).

Server 3 (web-1, team 1) reports a sample a minute; health check 4 watches the Shop's
`/up`; alert rule 3 ("Disk full") raised alert 42 on web-1 this morning.
"""

from __future__ import annotations

from typing import Any

# df -P -k, in bytes: the root file system and /boot.
MOUNTS: list[dict[str, Any]] = [
    {"mount": "/", "used": 17_218_920_448, "total": 40_470_839_296},
    {"mount": "/boot", "used": 133_947_392, "total": 1_020_702_720},
]

SAMPLE: dict[str, Any] = {
    "at": "2026-11-26T09:30:00Z",
    "cpu_percent": 11.9,
    "mem_used": 1_873_215_488,
    "mem_total": 4_105_236_480,
    "swap_used": 0,
    "load1": 0.38,
    "net_rx_bps": 18_432.5,
    "net_tx_bps": 96_215.8,
    "disk_read_bps": 4_096.0,
    "disk_write_bps": 212_992.0,
    "disk_used": sum(mount["used"] for mount in MOUNTS),
    "disk_total": sum(mount["total"] for mount in MOUNTS),
    "mounts": MOUNTS,
}

UPTIME: dict[str, Any] = {
    "24h": 100.0,
    "7d": 99.93055555555556,
    "30d": 99.87268518518519,
}

EXAMPLES: dict[str, Any] = {
    # The last three minutes of the raw series (range=1h), one point a minute.
    "MetricsSeries": {
        "at": [1795685280, 1795685340, 1795685400],
        "cpu_percent": [12.5, 14.08, 11.9],
        "load1": [0.42, 0.51, 0.38],
        "net_rx_bps": [17_920.0, 21_504.3, 18_432.5],
        "net_tx_bps": [88_064.2, 104_857.6, 96_215.8],
        "disk_read_bps": [0.0, 8_192.0, 4_096.0],
        "disk_write_bps": [196_608.0, 262_144.0, 212_992.0],
        "mem_used": [1_866_924_032, 1_904_672_768, 1_873_215_488],
        "mem_total": [4_105_236_480, 4_105_236_480, 4_105_236_480],
        "swap_used": [0, 0, 0],
        "disk_used": [17_352_491_008, 17_352_687_616, 17_352_867_840],
        "disk_total": [41_491_542_016, 41_491_542_016, 41_491_542_016],
        "range": "1h",
        "resolution": "raw",
    },
    "Sample": SAMPLE,
    "Latest": {"server": 3, "server_name": "web-1", "team": 1, "sample": SAMPLE},
    "Uptime": UPTIME,
    "HealthCheck": {
        "id": 4,
        "team": 1,
        "name": "Shop",
        "project": 3,
        "kind": "http",
        "url": "https://shop.example.com/up",
        "method": "GET",
        "expected_status": 200,
        "keyword": "",
        "host": "",
        "port": None,
        "timeout_seconds": 10,
        "interval_seconds": 60,
        "degraded_ms": 2000,
        "tls_warn_days": 14,
        "enabled": True,
        "status": "up",
        "state": "Up",
        "status_since": "2026-11-24T03:12:41Z",
        "confirming": False,
        "target": "https://shop.example.com/up",
        "last_checked_at": "2026-11-26T09:30:00Z",
        "next_check_at": "2026-11-26T09:31:00Z",
        "last_response_ms": 184,
        "last_status_code": 200,
        "last_error": "",
        "tls_expires_at": "2027-01-18T23:59:59Z",
        "uptime": UPTIME,
        "created_at": "2026-11-02T14:10:22Z",
    },
    "HealthResult": {
        "id": 10345,
        "at": "2026-11-26T09:30:00Z",
        "outcome": "up",
        "response_ms": 184,
        "status_code": 200,
        "error": "",
    },
    "AlertRule": {
        "id": 3,
        "team": 1,
        "name": "Disk full",
        "enabled": True,
        "scope": "all",
        "server": None,
        "group": None,
        "tag": None,
        "metric": "disk",
        "operator": ">",
        "threshold": 90.0,
        "duration_minutes": 5,
        "hysteresis": None,
        "channels": [5],
        "escalate_after_minutes": 30,
        "escalation_channels": [6],
        "condition": "Disk > 90 % for 5 min",
        "scope_label": "All servers",
        "open_alerts": 0,
        "created_at": "2026-11-02T14:30:05Z",
    },
    # Acknowledged by bob, then it resolved itself: back under 85 % (90 less the 5-point
    # hysteresis), so `resolved_by` is null.
    "Alert": {
        "id": 42,
        "team": 1,
        "rule": 3,
        "rule_name": "Disk full",
        "metric": "disk",
        "server": 3,
        "server_name": "web-1",
        "state": "resolved",
        "value": 93.2,
        "value_label": "93.2 %",
        "last_value": 84.1,
        "message": "web-1: Disk is 93.2 % (Disk > 90 % for 5 min)",
        "triggered_at": "2026-11-26T06:12:00Z",
        "escalated_at": None,
        "acknowledged_at": "2026-11-26T06:15:40Z",
        "acknowledged_by": "bob",
        "resolved_at": "2026-11-26T06:48:00Z",
        "resolved_by": None,
    },
}
