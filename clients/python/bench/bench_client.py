#!/usr/bin/env python3
"""Benchmark of the Python client against a local `automations serve`.

1. `Run.log` of a 10-metric dict: its cost in the calling thread (median, p90, p99), while the
   background sender is sending to the server (target: median <= 5 us).
2. Sustained throughput: rows of 10 metrics logged as fast as the loop goes, until the server
   has taken every value (target: >= 500,000 values/s).

    python bench/bench_client.py [--rows 200000] [--latency-calls 200000] [--bin target/release/automations]
    python bench/bench_client.py --smoke      # a small size, checks only that it runs

The binary is --bin, else $AUTOMATIONS_BIN, else target/release or target/debug of the repo.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from automations_client import Client

REPO = Path(__file__).resolve().parents[3]


def find_bin(arg):
    for cand in (arg, os.environ.get("AUTOMATIONS_BIN"), REPO / "target/release/automations",
                 REPO / "target/debug/automations"):
        if cand and Path(cand).exists():
            return str(cand)
    sys.exit("no automations binary: pass --bin or set AUTOMATIONS_BIN")


def start_server(binary, workdir):
    db = str(Path(workdir) / "bench.db")
    key = subprocess.run([binary, "keys", "create", "--entity", "acme", "--db", db], check=True,
                         capture_output=True, text=True).stdout.strip()
    log = open(Path(workdir) / "serve.log", "wb")
    proc = subprocess.Popen([binary, "serve", "--addr", "127.0.0.1:0", "--db", db], stdout=log,
                            stderr=subprocess.PIPE)
    while True:
        line = proc.stderr.readline().decode()
        if not line:
            sys.exit("automations serve did not start")
        if "listening on http://" in line:
            addr = line.split("http://", 1)[1].split()[0]
            break
    import threading

    def drain():
        for chunk in proc.stderr:
            log.write(chunk)

    threading.Thread(target=drain, daemon=True).start()
    url = f"http://{addr}"
    # One automation watching one of the metrics, so the server evaluates as in real use.
    body = {"name": "loss-high", "scope": {"type": "project", "project": "bench"},
            "event": {"type": "RUN_METRIC_THRESHOLD",
                      "metric": {"name": "m0", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 1e9}},
            "action": {"type": "none"}}
    req = urllib.request.Request(url + "/v1/automations", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    return proc, url, key


SINK = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"accepted":0,"rejected":[]}'
        # One write: headers and body apart would meet Nagle and delayed ACKs (40 ms a request).
        self.wfile.write(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def start_sink():
    """A process that answers every request 202 at once: what the client sustains by itself."""
    proc = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def bench_latency(client, calls):
    run = client.run("acme", "bench", name="latency")
    values = {f"m{i}": 0.5 + i for i in range(10)}
    log = run.log
    clock = time.perf_counter_ns
    samples = [0] * calls
    for i in range(calls):
        t0 = clock()
        log(values)
        samples[i] = clock() - t0
    empty = []
    for _ in range(min(calls, 100_000)):
        t0 = clock()
        t1 = clock()
        empty.append(t1 - t0)
    run.finish()
    client.flush(120)
    samples.sort()
    q = lambda p: samples[min(len(samples) - 1, int(p * len(samples)))] / 1000  # noqa: E731
    return {"median_us": statistics.median(samples) / 1000, "p90_us": q(0.90), "p99_us": q(0.99),
            "timer_overhead_us": statistics.median(empty) / 1000}


def bench_throughput(client, rows):
    run = client.run("acme", "bench", name="throughput")
    before = client.stats()["values_sent"]
    t0 = time.perf_counter()
    for i in range(rows):
        run.log({"m0": i * 0.001, "m1": 1.0 / (i + 1), "m2": i * 0.5, "m3": 0.25, "m4": i * 1e-6,
                 "m5": 3.14159, "m6": -i * 0.01, "m7": 42.0 + i, "m8": 0.001 * (i % 100), "m9": 7.5})
    t_logged = time.perf_counter()
    ok = client.flush(600)
    t_done = time.perf_counter()
    run.finish()
    client.flush(60)
    sent = client.stats()["values_sent"] - before
    assert ok, "flush timed out"
    return {"rows": rows, "values": rows * 10, "values_taken_by_server": sent,
            "log_loop_s": t_logged - t0, "until_all_taken_s": t_done - t0,
            "values_per_s": sent / (t_done - t0), "dropped": client.stats()["rows_dropped"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin")
    ap.add_argument("--rows", type=int, default=200_000, help="rows of 10 values for the throughput run")
    ap.add_argument("--latency-calls", type=int, default=200_000)
    ap.add_argument("--smoke", action="store_true", help="a small size: checks that it runs")
    args = ap.parse_args()
    if args.smoke:
        args.rows, args.latency_calls = 2000, 2000
    binary = find_bin(args.bin)
    with tempfile.TemporaryDirectory() as d:
        proc, url, key = start_server(binary, d)
        try:
            client = Client(url, key, max_queue_rows=max(args.rows, args.latency_calls) + 10)
            lat = bench_latency(client, args.latency_calls)
            thr = bench_throughput(client, args.rows)
            client.close()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    sink, sink_url = start_sink()
    try:
        sink_client = Client(sink_url, "unused", max_queue_rows=args.rows + 10)
        ceiling = bench_throughput(sink_client, args.rows)
        sink_client.close()
    finally:
        sink.kill()
        sink.wait()
    print(f"Run.log, 10-metric dict, calling thread: median {lat['median_us']:.2f} us, "
          f"p90 {lat['p90_us']:.2f} us, p99 {lat['p99_us']:.2f} us "
          f"(timer overhead {lat['timer_overhead_us']:.3f} us; target median <= 5 us)")
    print(f"sustained: {thr['values']:,} values in {thr['until_all_taken_s']:.2f} s until the server took them "
          f"all = {thr['values_per_s']:,.0f} values/s (log loop alone {thr['log_loop_s']:.2f} s; "
          f"target >= 500,000/s); dropped rows {thr['dropped']}")
    print(f"client alone (a sink answering 202 at once): {ceiling['values_per_s']:,.0f} values/s")
    if thr["values_taken_by_server"] != thr["values"] or thr["dropped"]:
        sys.exit("not every value was taken")
    print(json.dumps({"latency": lat, "throughput": thr, "client_alone": ceiling}))


if __name__ == "__main__":
    main()
