# SPDX-License-Identifier: Apache-2.0
"""berthd's Prometheus endpoint (metrics.address): scraped before and after a pod and
container lifecycle, parsed with prometheus_client's parser and checked with
`promtool check metrics`; the counters and histogram counts move by what the
lifecycle did. Also the structured logs: per-RPC debug lines, state changes at info,
JSON lines that parse, and no credentials in logs or metrics."""
import ctypes
import http.client
import json
import os
import socket
import subprocess
import threading
import time

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ctrutil import Env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401
from spdy import connect_in_netns

CLONE_NEWNET = 0x40000000
SLEEP = ["sh", "-c", "exec sleep 1000"]
SECRET_USER, SECRET_PASS = "obs-user-7f3a", "obs-pass-c91d"


def free_port_in(netns_path):
    """A TCP port free on 127.0.0.1 inside netns_path (bound, then released)."""
    out = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(netns_path, os.O_RDONLY)
        try:
            assert libc.setns(fd, CLONE_NEWNET) == 0
        finally:
            os.close(fd)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            out["port"] = s.getsockname()[1]
    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out["port"]


class Scraper:
    def __init__(self, d, port):
        self.d, self.port = d, port

    def get(self, path="/metrics"):
        s = connect_in_netns(self.d.netns.path, "127.0.0.1", self.port)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.sock = s
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        conn.close()
        return r.status, r.getheader("Content-Type"), body

    def scrape(self):
        status, ctype, body = self.get()
        assert status == 200
        assert ctype.startswith("text/plain; version=0.0.4")
        # promtool's linter: names, units, suffixes, help texts
        p = subprocess.run(["promtool", "check", "metrics"], input=body, text=True,
                           capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr
        samples = {}
        types = {}
        for fam in text_string_to_metric_families(body):
            types[fam.name] = fam.type
            for s in fam.samples:
                samples[(s.name, frozenset(s.labels.items()))] = s.value
        return Metrics(samples, types, body)


class Metrics:
    def __init__(self, samples, types, body):
        self.samples, self.types, self.body = samples, types, body

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())), 0)


@pytest.fixture
def menv(berthd_factory, net, reg):  # noqa: F811
    port = free_port_in(net.path)
    d = berthd_factory({"metrics": {"address": f"127.0.0.1:{port}"}}, netns=net)
    e = Env(d, reg)
    e.scraper = Scraper(d, port)
    e.pull("busybox")
    try:
        yield e
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks


def delta(a, b, name, **labels):
    return b.get(name, **labels) - a.get(name, **labels)


def test_scrape_moves_with_a_lifecycle(menv):
    env, sc = menv, menv.scraper
    pb = env.pb
    m0 = sc.scrape()
    # the families are there before anything happened to them
    for name, t in [("berth_grpc_requests", "counter"),
                    ("berth_grpc_request_duration_seconds", "histogram"),
                    ("berth_oci_runtime_operation_duration_seconds", "histogram"),
                    ("berth_cni_operation_duration_seconds", "histogram"),
                    ("berth_image_pull_duration_seconds", "histogram"),
                    ("berth_image_pulls", "counter"), ("berth_image_pulls_in_flight", "gauge"),
                    ("berth_container_exits", "counter"), ("berth_pods", "gauge"),
                    ("berth_containers", "gauge"), ("berth_shim_processes", "gauge"),
                    ("process_resident_memory_bytes", "gauge"), ("process_open_fds", "gauge"),
                    ("process_threads", "gauge"), ("process_start_time_seconds", "gauge")]:
        assert m0.types.get(name) == t, name
    assert m0.get("berth_pods", state="SANDBOX_READY") == 0
    assert m0.get("berth_grpc_requests_total", method="PullImage", code="OK") == 1

    pod = env.pod("life")
    cid = env.run(pod, "c", SLEEP)
    assert env.exec(cid, ["sh", "-c", "true"]).exit_code == 0
    with pytest.raises(grpc.RpcError) as ei:
        env.call("ContainerStatus", pb.ContainerStatusRequest(container_id="nope"))
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    m1 = sc.scrape()
    assert m1.get("berth_pods", state="SANDBOX_READY") == 1
    assert m1.get("berth_containers", state="CONTAINER_RUNNING") == 1
    assert m1.get("berth_shim_processes") == 1

    env.stop(cid)
    env.remove(cid)
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod[0]))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod[0]))
    m2 = sc.scrape()
    for method in ["RunPodSandbox", "CreateContainer", "StartContainer", "ExecSync",
                   "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox"]:
        assert delta(m0, m2, "berth_grpc_requests_total", method=method, code="OK") == 1, method
        assert delta(m0, m2, "berth_grpc_request_duration_seconds_count", method=method) == 1
        assert m2.get("berth_grpc_request_duration_seconds_bucket", method=method, le="+Inf") \
            == m2.get("berth_grpc_request_duration_seconds_count", method=method)
    assert delta(m0, m2, "berth_grpc_requests_total", method="ContainerStatus",
                 code="NOT_FOUND") == 1
    # the scrapes themselves are not RPCs; m1's own calls are counted
    assert delta(m0, m1, "berth_grpc_requests_total", method="RunPodSandbox", code="OK") == 1
    oci = "berth_oci_runtime_operation_duration_seconds_count"
    for op in ["create", "start", "exec"]:
        assert delta(m0, m2, oci, operation=op) == 1, op
    assert delta(m0, m2, oci, operation="kill") >= 1
    assert delta(m0, m2, oci, operation="delete") >= 1
    assert delta(m0, m2, "berth_oci_runtime_operation_failures_total", operation="create") == 0
    assert delta(m0, m2, "berth_cni_operation_duration_seconds_count", operation="ADD") == 1
    assert delta(m0, m2, "berth_cni_operation_duration_seconds_count", operation="DEL") >= 1
    assert delta(m0, m2, "berth_cni_operation_failures_total", operation="ADD") == 0
    # stopped with timeout 0: SIGKILL, exit code 137
    assert delta(m0, m2, "berth_container_exits_total", reason="Error") == 1
    assert m2.get("berth_pods", state="SANDBOX_READY") == 0
    assert m2.get("berth_containers", state="CONTAINER_RUNNING") == 0
    assert m2.get("berth_shim_processes") == 0
    # buckets are cumulative
    b = [m2.get("berth_grpc_request_duration_seconds_bucket", method="RunPodSandbox", le=le)
         for le in ["0.001", "0.01", "0.1", "1", "10", "+Inf"]]
    assert b == sorted(b) and b[-1] >= 1

    # berthd's own process
    pid = env.d.pid
    assert m2.get("process_resident_memory_bytes") > 1 << 20
    assert m2.get("process_open_fds") > 5
    with open(f"/proc/{pid}/status") as f:
        threads = int([ln for ln in f if ln.startswith("Threads:")][0].split()[1])
    assert m2.get("process_threads") >= 4  # the workers at least
    assert abs(m2.get("process_threads") - threads) <= 8
    assert time.time() - 600 < m2.get("process_start_time_seconds") <= time.time()
    assert m2.get("process_cpu_seconds_total") > 0


def test_pull_metrics_and_no_credentials(menv):
    env, sc = menv, menv.scraper
    pb = env.pb
    m0 = sc.scrape()
    ref = env.image("busybox")  # pulled again: fetched or not, a pull of its size
    auth = pb.AuthConfig(username=SECRET_USER, password=SECRET_PASS)
    env.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref), auth=auth),
             timeout=120)
    size = env.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref))) \
        .image.size
    with pytest.raises(grpc.RpcError) as ei:
        env.call("PullImage", pb.PullImageRequest(
            image=pb.ImageSpec(image=f"{env.reg.host}/test/nosuch:1"), auth=auth), timeout=120)
    code = ei.value.code().name
    m1 = sc.scrape()
    assert delta(m0, m1, "berth_image_pulls_total") == 2
    assert delta(m0, m1, "berth_image_pull_failures_total", reason=code) == 1
    assert delta(m0, m1, "berth_image_pull_duration_seconds_count") == 1
    assert delta(m0, m1, "berth_image_pull_bytes_total") == size
    assert m1.get("berth_image_pulls_in_flight") == 0
    log = env.d.stderr()
    for secret in (SECRET_USER, SECRET_PASS):
        assert secret not in m1.body
        assert secret not in log


def test_endpoint_paths_and_default_off(menv, berthd_factory):
    status, _, body = menv.scraper.get("/other")
    assert status == 404
    # off by default: the config shows no metrics address
    d = berthd_factory()
    verbose = d.client().call("Status", d.pb.StatusRequest(verbose=True))
    cfg = json.loads(verbose.info["config"])
    assert "metrics" not in cfg
    assert "metrics endpoint listening" not in d.stderr()
    assert "metrics endpoint listening" in menv.d.stderr()
