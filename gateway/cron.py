"""Periodic jobs for RQ's cron scheduler: `rq cron gateway.cron --url $REDIS_URL`."""
from rq import cron

from gateway.workers.sweeper import sweep

cron.register(sweep, "default", interval=60, name="sweeper")
