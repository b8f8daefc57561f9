"""The alerts stage: stories, rules, the outbox and its channels.

Public face (the CLI and the scheduler call only these):

* `assign_stories(config, db)`: articles without a story join one (near-copies and
  same-event rewrites) or found a new one;
* `raise_alerts(config, db)`: one alert per qualifying story, with a pending delivery per channel;
* `deliver_pending(config, db, channels=..., console=...)`: send what is due, each channel independently;
* `process_alerts(config, db)`: the three above in order;
* `list_alerts(db)` / `list_stories(db, min_score, search)`: the read side for `newsradar alerts` / `stories`.

See `alerts.outbox` for the delivery state machine and what a crash can and cannot do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from newsradar.config import Config
from newsradar.store import Database

from .common import utc
from .outbox import DeliveryReport, deliver_pending, list_alerts, list_stories
from .rules import explain_rules, raise_alerts
from .stories import assign_stories

__all__ = ["assign_stories", "raise_alerts", "deliver_pending", "process_alerts", "list_alerts", "list_stories",
           "DeliveryReport", "AlertsResult", "explain_rules"]


@dataclass
class AlertsResult:
    assigned: int
    alerts: list[int]
    delivery: DeliveryReport

    def __str__(self) -> str:
        return f"alerts raised: {len(self.alerts)}; {self.delivery}"


def process_alerts(config: Config, db: Database, now: datetime | None = None, *, console: Any = None) -> AlertsResult:
    """Stories, then alerts, then delivery: what a crawl run does after the NLP stage."""
    moment = utc(now)
    assigned = assign_stories(config, db, moment)
    alerts = raise_alerts(config, db, moment)
    return AlertsResult(assigned, alerts, deliver_pending(config, db, moment, console=console))
