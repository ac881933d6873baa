"""The SMS send job (declared in gateway/jobs.py with its retry policy)."""
from rq import get_current_job

from gateway.config import Settings
from gateway.messaging import sending
from gateway.providers import sms


def send_message(message_id: int) -> str:
    settings = Settings.from_env()
    job = get_current_job()
    retries_left = int(job.retries_left or 0) if job is not None else 0
    return sending.send(settings, message_id, sms.client(settings), retries_left)
