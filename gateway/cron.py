"""Periodic jobs, as data, for RQ's cron scheduler (RQ >= 2.5): `rq cron gateway.cron --url $REDIS_URL`
(started by `gateway serve`), or `gateway.cron.scheduler(redis)` from our own process."""
from rq import cron
from rq.cron import CronScheduler

from gateway.workers.notify import notify_tick
from gateway.workers.ops import daily_collections, monthly_spot_checks
from gateway.workers.reminders import plan_reminders
from gateway.workers.sweeper import final_answers, sweep

PLAN_REMINDERS_CRON = "*/15 * * * *"  # every 15 minutes
DAILY_COLLECTIONS_CRON = "30 3 * * *"  # 06:30 in Nairobi: promises kept/broken and new flags before the day starts
SPOT_CHECKS_CRON = "0 4 1 * *"  # 07:00 in Nairobi on the 1st: every lender's spot check of the month just ended

# (job, queue, cron expression)
JOBS = [
    (plan_reminders, "default", PLAN_REMINDERS_CRON),
    (daily_collections, "default", DAILY_COLLECTIONS_CRON),
    (monthly_spot_checks, "default", SPOT_CHECKS_CRON),
    (sweep, "default", "* * * * *"),  # SMS and payments stored while Redis was down; idempotent
    (notify_tick, "default", "*/5 * * * *"),  # webhooks: daily summaries at their hour, failure alerts, lost jobs
    (final_answers, "default", "* * * * *"),  # SMS stuck `sending`, calls and STK pushes with no callback
]

for _job, _queue, _expr in JOBS:
    cron.register(_job, _queue, cron=_expr)


def scheduler(connection) -> CronScheduler:
    sched = CronScheduler(connection=connection)
    for job, queue, expr in JOBS:
        sched.register(job, queue, cron=expr)
    return sched
