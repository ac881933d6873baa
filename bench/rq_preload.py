"""For bench/posting.py only: RQ's forking Worker with the job modules imported once, in the
parent, before it forks, to measure what a per-job import costs the default layout (every work
horse of `rq worker` otherwise imports the gateway afresh)."""
from rq.worker import Worker

import gateway.workers.payments  # noqa: F401  (and through it the app's models, services, payments)
import gateway.workers.sms  # noqa: F401


class PreloadedWorker(Worker):
    pass
