"""The unattended sync schedule from agent.toml: an interval, a cron expression (e.g. every 5 minutes in business
hours: ``*/5 8-18 * * mon-fri``), or both (a sync runs at either's times)."""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger


def sync_trigger(interval: float | None, cron: str | None, timezone: str | None = None) -> BaseTrigger:
    """Raises ValueError for a cron expression APScheduler cannot read, or when neither is given."""
    triggers: list[BaseTrigger] = []
    if interval:
        triggers.append(IntervalTrigger(seconds=interval))
    if cron:
        triggers.append(CronTrigger.from_crontab(cron, timezone=timezone))
    if not triggers:
        raise ValueError("give [sync] interval_seconds, cron, or both")
    return triggers[0] if len(triggers) == 1 else OrTrigger(triggers)
