"""Periodic jobs for RQ's cron scheduler (RQ >= 2.5): `rq cron gateway.cron --url $REDIS_URL`,
or `gateway.cron.scheduler()` from our own process."""
from rq import cron
from rq.cron import CronScheduler

from gateway.workers.ops import daily_collections
from gateway.workers.reminders import plan_reminders

PLAN_REMINDERS_CRON = "*/15 * * * *"  # every 15 minutes
DAILY_COLLECTIONS_CRON = "30 3 * * *"  # 06:30 in Nairobi: promises kept/broken and new flags before the day starts

cron.register(plan_reminders, "default", cron=PLAN_REMINDERS_CRON)
cron.register(daily_collections, "default", cron=DAILY_COLLECTIONS_CRON)


def scheduler(connection) -> CronScheduler:
    sched = CronScheduler(connection=connection)
    sched.register(plan_reminders, "default", cron=PLAN_REMINDERS_CRON)
    sched.register(daily_collections, "default", cron=DAILY_COLLECTIONS_CRON)
    return sched
