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
import re
import socket
import subprocess
import threading
import time

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import poll
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
    # an image of three 1 MiB layers none of which is stored: every byte of it fetched
    ref = env.image("concurrent")
    auth = pb.AuthConfig(username=SECRET_USER, password=SECRET_PASS)
    env.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref), auth=auth),
             timeout=120)
    size = env.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref))) \
        .image.size
    assert size > 3 << 20
    # busybox again: all of it is stored, nothing is fetched
    env.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=env.image("busybox"))),
             timeout=120)
    with pytest.raises(grpc.RpcError) as ei:
        env.call("PullImage", pb.PullImageRequest(
            image=pb.ImageSpec(image=f"{env.reg.host}/test/nosuch:1"), auth=auth), timeout=120)
    code = ei.value.code().name
    m1 = sc.scrape()
    assert delta(m0, m1, "berth_image_pulls_total") == 3
    assert delta(m0, m1, "berth_image_pull_failures_total", reason=code) == 1
    assert delta(m0, m1, "berth_image_pull_duration_seconds_count") == 2
    assert delta(m0, m1, "berth_image_pull_bytes_total") == size
    assert m1.get("berth_image_pulls_in_flight") == 0
    log = env.d.stderr()
    for secret in (SECRET_USER, SECRET_PASS):
        assert secret not in m1.body
        assert secret not in log


def test_endpoint_paths_and_default_off(menv, berthd_factory):
    status, _, body = menv.scraper.get("/other")
    assert status == 404
    # off by default: the config shows a null metrics address
    d = berthd_factory()
    verbose = d.client().call("Status", d.pb.StatusRequest(verbose=True))
    cfg = json.loads(verbose.info["config"])
    assert cfg["metrics"] == {"address": None}
    assert "metrics endpoint listening" not in d.stderr()
    assert "metrics endpoint listening" in menv.d.stderr()


RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def lifecycle(env, envs=None):
    pb = env.pb
    pod = env.pod("logs")
    kw = {"envs": [pb.KeyValue(key=k, value=v.encode()) for k, v in (envs or {}).items()]}
    cid = env.run(pod, "c", ["sh", "-c", "exit 3"], **kw)
    st = env.wait_exited(cid)
    assert st.exit_code == 3
    env.remove(cid)
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod[0]))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod[0]))
    return pod[0], cid


def test_json_log_lines(berthd_factory, net, reg):  # noqa: F811
    d = berthd_factory({"log_format": "json"}, netns=net)
    env = Env(d, reg)
    try:
        env.pull("busybox")
        secret_env = "envval-5b2e90"
        sid, cid = lifecycle(env, {"TOKEN": secret_env})
        log = d.stderr()
    finally:
        leaks = env.cleanup()
    assert not leaks, leaks
    records = []
    for line in log.splitlines():
        try:
            r = json.loads(line)  # every line is one JSON object
        except ValueError:
            raise AssertionError(line)
        assert RFC3339.match(r["ts"]), r
        assert r["level"] in ("debug", "info", "warn", "error") and r["component"], r
        records.append(r)
    assert secret_env not in log
    # one debug line per RPC: method, target, duration, status
    rpcs = [r for r in records if "method" in r and r["level"] == "debug"]
    run = [r for r in rpcs if r["method"] == "RunPodSandbox"]
    assert len(run) == 1 and run[0]["id"] == sid and run[0]["status"] == "OK"
    assert isinstance(run[0]["dur_ms"], int)
    start = [r for r in rpcs if r["method"] == "StartContainer"]
    assert len(start) == 1 and start[0]["id"] == cid
    pull = [r for r in rpcs if r["method"] == "PullImage"]
    assert len(pull) == 1 and pull[0]["image"] == env.image("busybox")
    # state changes at info
    info = [r for r in records if r["level"] == "info"]

    def one(msg, **kv):
        got = [r for r in info if r.get("msg") == msg and all(r.get(k) == v
                                                              for k, v in kv.items())]
        assert len(got) == 1, (msg, kv, [r for r in info if r.get("msg") == msg])
        return got[0]
    one("pod sandbox ready", id=sid, name="logs")
    one("container created", id=cid, sandbox=sid, name="c")
    one("container started", id=cid)
    ex = one("container exited", exit_code=3, reason="Error")
    assert cid.startswith(ex["id"]) and isinstance(ex["id"], str)
    one("container removed", id=cid)
    one("pod sandbox stopped", id=sid)
    one("pod sandbox removed", id=sid)
    p = one("pulled image", image=env.image("busybox"))
    assert p["size"] > 0 and isinstance(p["dur_ms"], int)


def test_text_log_lines(menv):
    env = menv
    sid, cid = lifecycle(env, {"TOKEN": "envval-text-77"})
    log = env.d.stderr()
    assert "envval-text-77" not in log
    lines = log.splitlines()
    for line in lines:
        ts, level, component, _ = line.split(" ", 3)
        assert RFC3339.match(ts), line
        assert level in ("debug", "info", "warn", "error")
    assert [ln for ln in lines if f' debug cri method=StartContainer id="{cid}" dur_ms=' in ln
            and ln.endswith(" status=OK")]
    assert [ln for ln in lines if f' info cri id="{cid}" msg="container started"' in ln]
    assert [ln for ln in lines if f" info cri id={cid[:12]} " in ln
            and "exit_code=3 reason=Error" in ln and 'msg="container exited"' in ln]


def pull_helpers(d):
    """PIDs of berth-pull processes whose parent is d's berthd."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == d.pid and cmd.split(b"\0")[0].endswith(b"berth-pull"):
            out.append(int(p))
    return out


def blob_dir(d):
    return os.path.join(d.state_dir, "image", "blobs", "sha256")


def blobs_whole(d):
    """Every blob file is complete (its content hashes to its name); no temp file."""
    import hashlib
    names = os.listdir(blob_dir(d))
    for n in names:
        assert not n.startswith(".tmp-"), n
        with open(os.path.join(blob_dir(d), n), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == n, n
    return set(names)


def test_stalled_pull_gives_up_leaving_nothing(berthd_factory, net, reg):  # noqa: F811
    from registry import SlowProxy
    port = free_port_in(net.path)
    d = berthd_factory({"image_pull_progress_timeout": "2s",
                        "metrics": {"address": f"127.0.0.1:{port}"}}, netns=net)
    env = Env(d, reg)
    sc = Scraper(d, port)
    pb = env.pb
    # every layer response stops after 256 KiB of its 1 MiB, the connection kept open
    proxy = SlowProxy(reg.host, delay=0.001, netns=net.path, stall_after=256 << 10).start()
    try:
        env.pull("busybox")
        before = blobs_whole(d)
        layers_before = set(os.listdir(os.path.join(d.state_dir, "image", "layers")))
        ref = f"{proxy.host}/test/concurrent:1"
        out = {}

        def pull():
            try:
                env.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref)),
                         timeout=120)
                out["ok"] = True
            except grpc.RpcError as e:
                out["e"] = e
        t = threading.Thread(target=pull)
        t.start()
        # while it hangs: one pull in flight, with the bytes that came before the stall
        poll(lambda: sc.scrape().get("berth_image_pull_in_flight_bytes") > 0 or out, 30,
             "bytes of the stalled pull")
        m = sc.scrape()
        assert m.get("berth_image_pulls_in_flight") == 1 or out
        t.join(60)
        assert not t.is_alive()
        e = out.get("e")
        assert e is not None, "the stalled pull succeeded"
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.details()
        assert "no data received for 2 s (image_pull_progress_timeout)" in e.details()
        # nothing left: no helper, no partial blob, no new layer, no image
        poll(lambda: not pull_helpers(d), 10, "berth-pull to end")
        # complete blobs only (the manifest and config may have come in whole)
        blobs_whole(d)
        assert set(os.listdir(os.path.join(d.state_dir, "image", "layers"))) == layers_before
        imgs = env.call("ListImages", pb.ListImagesRequest()).images
        assert not [i for i in imgs for t in i.repo_tags if "concurrent" in t]
        m = sc.scrape()
        assert m.get("berth_image_pulls_in_flight") == 0
        assert m.get("berth_image_pull_in_flight_bytes") == 0
        assert m.get("berth_image_pull_failures_total", reason="DEADLINE_EXCEEDED") == 1
        assert env.call("Version", pb.VersionRequest()).runtime_name == "berth"
    finally:
        proxy.stop()
        leaks = env.cleanup()
    assert not leaks, leaks


def test_slow_pull_logs_progress(berthd_factory, net, reg):  # noqa: F811
    from registry import SlowProxy
    d = berthd_factory(netns=net)
    env = Env(d, reg)
    pb = env.pb
    # 16 KiB per 0.1 s on each connection: a 1 MiB layer takes about 6 s
    proxy = SlowProxy(reg.host, delay=0.1, netns=net.path).start()
    try:
        env.call("PullImage", pb.PullImageRequest(
            image=pb.ImageSpec(image=f"{proxy.host}/test/concurrent:1")), timeout=120)
    finally:
        proxy.stop()
        leaks = env.cleanup()
    assert not leaks, leaks
    prog = {}
    for line in d.stderr().splitlines():
        if ' info pull ' not in line or "layer\"" not in line:
            continue
        kv = dict(f.split("=", 1) for f in line.split(" ")[3:] if "=" in f and
                  not f.startswith("msg="))
        prog.setdefault(kv["digest"], []).append(
            (int(kv["done"]), int(kv["total"]), int(kv["rate_bps"]), "pulled layer" in line))
    layers = {dg: v for dg, v in prog.items() if v[-1][1] > 1 << 20}  # the three 1 MiB ones
    assert len(layers) == 3, prog
    for dg, v in layers.items():
        *mid, last = v
        # every few seconds while it runs, then at the end with the whole size
        assert mid, (dg, v)
        assert all(not fin and 0 < done < total and rate > 0 for done, total, rate, fin in mid)
        assert [x[0] for x in mid] == sorted(x[0] for x in mid)
        assert last[3] and last[0] == last[1] and last[2] > 0


def test_endpoint_address_taken_or_bad(menv, berthd_factory, net):  # noqa: F811
    # the port menv's berthd listens on, in the same netns: the second one won't start
    taken = f"127.0.0.1:{menv.scraper.port}"
    for addr, want in ((taken, f"metrics.address '{taken}': bind: Address already in use"),
                       ("localhost:9099", "'localhost' is not an IP address"),
                       ("127.0.0.1", "metrics.address '127.0.0.1' is not host:port"),
                       ("127.0.0.1:0", "port must be 1-65535")):
        d = berthd_factory({"metrics": {"address": addr}}, netns=net, wait=False)
        rc = d.proc.wait(timeout=30)
        d.expect_clean_exit = False
        assert rc == 1, d.stderr()
        assert want in d.stderr()
    # the first one is unharmed
    status, _, _ = menv.scraper.get()
    assert status == 200
