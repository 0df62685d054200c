"""`moto_server` with DynamoDB requests applied one at a time, as DynamoDB applies writes to an item.

moto's threaded server checks a condition expression and then writes, with nothing in between to
stop another thread: two concurrent `UpdateItem`s conditioned on `attribute_not_exists` can both
succeed (seen: the conformance test of overlapping consumers saved a run twice, one run in six).
Real DynamoDB evaluates the condition and writes atomically, and that is what our optimistic
concurrency relies on. So DynamoDB requests (`X-Amz-Target: DynamoDB_...`) hold one lock while
moto handles them; SQS requests, whose long polls wait, are not serialised.

Usage: the arguments of `moto_server` (`-H HOST -p PORT`).
"""

import sys
import threading

from moto import server

_DYNAMODB = threading.Lock()


def _atomic_dynamodb(app):
    def handle(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with _DYNAMODB:
                # The whole answer is made under the lock, not only the call.
                return list(app(environ, start_response))
        return app(environ, start_response)

    return handle


_run_simple = server.run_simple


def _run_simple_atomic(host, port, app, **kwargs):
    return _run_simple(host, port, _atomic_dynamodb(app), **kwargs)


server.run_simple = _run_simple_atomic

if __name__ == "__main__":
    server.main(sys.argv[1:])
