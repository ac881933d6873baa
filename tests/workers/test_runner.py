"""The worker `gateway serve` runs waits for jobs without its Redis reads timing out."""
from gateway.queue import get_redis
from gateway.workers import runner


def test_an_idle_worker_waits_for_jobs_longer_than_a_socket_timeout(settings):
    shared = get_redis(settings)
    runner.wait_for_redis(shared)  # as run_worker does first: the shared client now holds a connection
    worker = runner.new_worker(settings)
    connection = worker.connection.connection_pool.get_connection()
    try:
        # RQ blocks on BLPOP for dequeue_timeout seconds: a shorter socket timeout breaks every wait with
        # "could not connect to Redis instance" and a back-off of up to a minute before the next job.
        assert connection.socket_timeout is None or connection.socket_timeout > worker.dequeue_timeout
    finally:
        worker.connection.connection_pool.release(connection)


def test_the_worker_listens_to_every_queue_money_first(settings):
    worker = runner.new_worker(settings)
    assert [q.name for q in worker.queues] == ["payments", "default"]
