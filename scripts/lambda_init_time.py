#!/usr/bin/env python3
"""Init time of the Lambda function binaries: from process start to the first call to the
Runtime API (`GET .../invocation/next`), which is when Lambda counts the function ready. Each
binary runs against a stub Runtime API on 127.0.0.1 with the environment template.yaml gives it
(dummy queue URLs and credentials: init makes no AWS calls). Also reports the resident memory
at that moment.

    cargo lambda build --release -p artifact-events -p metric-ingest -p sweeper -p config-api -p dispatcher -p mlflow-poller
    python3 scripts/lambda_init_time.py target/lambda

(`--release` takes the functions' settings of the workspace's `[workspace.metadata.lambda.build]`,
as `sam build` does.)
"""
import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

FUNCTIONS = ["artifact-events", "metric-ingest", "sweeper", "config-api", "dispatcher", "mlflow-poller"]
RUNS = 25


class Stub(http.server.BaseHTTPRequestHandler):
    """Records when `next` is first asked for, and never answers it."""

    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            self.server.first_next.set()
            time.sleep(60)

    def log_message(self, *args):
        pass


def measure(binary):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    server.first_next = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    q = "https://sqs.us-east-1.amazonaws.com/123456789012/"
    # Lambda sets no SSL_CERT_DIR, and its trust store is one bundle file. A directory of
    # hashed certificate files named here would be read and parsed file by file by each TLS
    # client the function builds (6 ms of CPU each on a Debian machine's 146 files).
    inherited = {k: v for k, v in os.environ.items() if k != "SSL_CERT_DIR"}
    env = dict(
        inherited,
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{port}",
        AWS_LAMBDA_FUNCTION_NAME="f",
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        AWS_EC2_METADATA_DISABLED="true",
        TABLE_NAME="automations",
        ARTIFACT_QUEUE_URL=q + "artifact-events",
        RUN_QUEUE_URL=q + "run-events.fifo",
        DELIVERY_QUEUE_URL=q + "deliveries",
        DEAD_LETTER_QUEUE_URL=q + "dlq",
        RUST_LOG="warn",
    )
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = server.first_next.wait(10)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(proc.pid)
    rss = 0
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    proc.kill()
    proc.wait()
    server.shutdown()
    if not ready:
        raise SystemExit(f"{binary} never asked for an invocation")
    return elapsed * 1000, rss / 1024, cpu * 1000


def cpu_seconds(pid):
    """On-CPU time of every thread of `pid` so far (schedstat, in nanoseconds): unlike the wall
    time, it does not grow when the host lends the cores to someone else."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/lambda"
    print(f"{'function':16} {'size':>9} {'init p50':>9} {'init max':>9} {'CPU p50':>8} {'RSS':>7}")
    for name in FUNCTIONS:
        binary = os.path.join(root, name, "bootstrap")
        size = os.path.getsize(binary) / 1024 / 1024
        samples = [measure(binary) for _ in range(RUNS)]
        ms = [s[0] for s in samples]
        rss = max(s[1] for s in samples)
        cpu = statistics.median(s[2] for s in samples)
        print(f"{name:16} {size:7.1f}MB {statistics.median(ms):7.1f}ms {max(ms):7.1f}ms {cpu:6.1f}ms {rss:5.1f}MB")


if __name__ == "__main__":
    main()
