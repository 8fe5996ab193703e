#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Metrics benchmark: ListPodSandboxMetrics and /metrics with 100 running containers.

  sudo bench/metrics_bench.py [--build DIR] [--pods 10] [--per-pod 10] [--n 50]

Starts a berthd of DIR (default build-release) as bench/cri_bench.py does, with the
Prometheus endpoint on, runs --pods pods (bridge network) of --per-pod `sleep`
containers each, then measures in one run:
  (a) ListPodSandboxMetrics, and ListPodSandboxStats beside it: client round trip, the
      server's own time (berth_grpc_request_duration_seconds sum/count from /metrics)
      and berthd's CPU per call (utime+stime of /proc/PID/stat), median over --n calls;
  (b) GET /metrics: round trip and berthd CPU per scrape, and the size of the answer;
  (c) berthd's VmRSS and Pss with the containers running, before any metrics call and
      after (a) and (b); and idle VmRSS of a berthd without the endpoint beside one with
      it.
Numbers are reported, never judged: this is not a test.
"""
import argparse
import concurrent.futures
import http.client
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from cri_bench import Bench, mem_kb, pct  # noqa: E402
from spdy import connect_in_netns  # noqa: E402

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

PORT = 9099  # inside the bench's own network namespace


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(b):
    s = connect_in_netns(b.nspath, "127.0.0.1", PORT)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.sock = s
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def server_time(body, method):
    s = c = 0
    for fam in text_string_to_metric_families(body):
        if fam.name != "berth_grpc_request_duration_seconds":
            continue
        for x in fam.samples:
            if x.labels.get("method") != method:
                continue
            if x.name.endswith("_sum"):
                s = x.value
            elif x.name.endswith("_count"):
                c = x.value
    return s, c


def per_call(b, n, fn):
    """Round trip of each call and berthd CPU per call (over all n)."""
    times = []
    c0 = cpu_s(b.proc.pid)
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times, (cpu_s(b.proc.pid) - c0) / n


def ms(v):
    return f"median {statistics.median(v) * 1000:7.2f} ms  p95 {pct(v, 95) * 1000:7.2f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--per-pod", type=int, default=10)
    ap.add_argument("--n", type=int, default=50)
    a = ap.parse_args()

    # idle memory with and without the endpoint (the library and its listener)
    idle = {}
    for name, extra in (("off", {}), ("on", {"metrics": {"address": f"127.0.0.1:{PORT}"}})):
        b = Bench(a.build, extra)
        try:
            b.start()
            time.sleep(1)
            idle[name] = mem_kb(b.proc.pid)
        finally:
            b.close()

    b = Bench(a.build, {"metrics": {"address": f"127.0.0.1:{PORT}"}})
    try:
        b.start()
        pods = [b.run_pod(f"p{i}") for i in range(a.pods)]

        def up(i):
            cid = b.create(pods[i % a.pods], f"c{i}")
            b.start_c(cid)
            return cid
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(up, range(a.pods * a.per_pod)))
        time.sleep(1)
        before = mem_kb(b.proc.pid)
        pb = b.pb
        resp = b.call("ListPodSandboxMetrics", pb.ListPodSandboxMetricsRequest())
        n_metrics = sum(len(p.metrics) + sum(len(c.metrics) for c in p.container_metrics)
                        for p in resp.pod_metrics)
        n_ctrs = sum(len(p.container_metrics) for p in resp.pod_metrics)
        size = resp.ByteSize()

        res = {}
        # the stats list first: what it keeps is not the metrics code's
        for method, req in (("ListPodSandboxStats", pb.ListPodSandboxStatsRequest()),
                            ("ListPodSandboxMetrics", pb.ListPodSandboxMetricsRequest())):
            s0, c0 = server_time(scrape(b), method)
            times, cpu = per_call(b, a.n, lambda: b.call(method, req))
            s1, c1 = server_time(scrape(b), method)
            res[method] = (times, cpu, (s1 - s0) / (c1 - c0), mem_kb(b.proc.pid))
        body = scrape(b)
        scr, scr_cpu = per_call(b, a.n, lambda: scrape(b))
        after = mem_kb(b.proc.pid)

        print(f"\n{len(ids)} running containers in {a.pods} pods; ListPodSandboxMetrics "
              f"answers {len(resp.pod_metrics)} pods, {n_ctrs} containers, {n_metrics} "
              f"metrics, {size} bytes")
        for method, (times, cpu, srv, _) in res.items():
            print(f"{method:<22} round trip {ms(times)}  server {srv * 1000:7.2f} ms  "
                  f"berthd CPU {cpu * 1000:7.2f} ms/call")
        m, st = res["ListPodSandboxMetrics"], res["ListPodSandboxStats"]
        print(f"ratio metrics/stats: server time {m[2] / st[2]:.2f}, "
              f"CPU {m[1] / st[1]:.2f}")
        print(f"GET /metrics ({len(body)} bytes) round trip {ms(scr)}  berthd CPU "
              f"{scr_cpu * 1000:7.2f} ms/scrape")
        print("\nMemory (kB)")
        print(f"idle, endpoint off: VmRSS {idle['off']['VmRSS']}  Pss {idle['off']['Pss']}")
        print(f"idle, endpoint on:  VmRSS {idle['on']['VmRSS']}  Pss {idle['on']['Pss']}")
        print(f"{len(ids)} containers, before any metrics call: VmRSS {before['VmRSS']}  "
              f"RssAnon {before['RssAnon']}  Pss {before['Pss']}")
        for method, r in res.items():
            print(f"after {a.n} {method}: VmRSS {r[3]['VmRSS']}  RssAnon {r[3]['RssAnon']}  "
                  f"Pss {r[3]['Pss']}")
        print(f"after {a.n} scrapes as well: VmRSS {after['VmRSS']}  "
              f"RssAnon {after['RssAnon']}  Pss {after['Pss']}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
