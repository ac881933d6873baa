"""Reminder jobs: the planner (RQ cron, every 15 minutes) and the send of one reminder."""
from gateway.config import Settings
from gateway.reminders import planner


def plan_reminders() -> int:
    return planner.plan(Settings.from_env())


def send_reminder(reminder_id: int) -> str:
    return planner.send(Settings.from_env(), reminder_id)
