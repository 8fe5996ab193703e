# SPDX-License-Identifier: Apache-2.0
"""The soak load (docs/robustness.md): N clients, each on a gRPC channel of its own, run
full lifecycles against one berthd for a set time: RunPodSandbox (bridge network),
CreateContainer, StartContainer, ExecSync, the container's log read and reopened,
StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox. counts() is what is
compared at the start and the end: berthd's fds, threads and RSS, and on the node the
mounts, processes and cgroups of that berthd's pods and containers. Used by
tests/integration/test_soak.py (a short run, counts flat) and bench/soak_bench.py."""
import os
import threading
import time
import uuid

from ctrutil import cgroup_dirs, mountpoints_under, procs_mentioning

CMD = ["sh", "-c", "echo soak-started; exec sleep 1000"]


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def counts(env):
    """The numbers of the soak report."""
    d = env.d
    cg = 0
    for top in cgroup_dirs(env.cgroup_parent):
        for _, dirs, _ in os.walk(top):
            cg += len(dirs)
    return {
        "berthd fds": len(os.listdir(f"/proc/{d.pid}/fd")),
        "berthd threads": status_field(d.pid, "Threads"),
        "berthd RSS KiB": status_field(d.pid, "VmRSS"),
        "mounts": len(mountpoints_under(d.root)),
        "processes": len([p for p in procs_mentioning(d.root + "/") if p != d.pid]),
        "cgroups": cg,
        "node processes": len([e for e in os.listdir("/proc") if e.isdigit()]),
    }


# compared for equality by the test; the node-wide process count and RSS are reported
FLAT = ("berthd fds", "berthd threads", "mounts", "processes", "cgroups")


def lifecycle(env, c, name):
    """One full lifecycle on client c; raises on any failure."""
    pb = env.pb
    cfg = env.pod_config(name)
    sid = c.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg),
                 timeout=120).pod_sandbox_id
    ccfg = env.ctr_config("c", command=CMD)
    cid = c.call("CreateContainer", pb.CreateContainerRequest(
        pod_sandbox_id=sid, config=ccfg, sandbox_config=cfg), timeout=120).container_id
    c.call("StartContainer", pb.StartContainerRequest(container_id=cid), timeout=120)
    r = c.call("ExecSync", pb.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", "echo exec-ok"],
                                              timeout=30), timeout=120)
    if r.exit_code != 0 or r.stdout != b"exec-ok\n":
        raise AssertionError(f"ExecSync: {r}")
    st = c.call("ContainerStatus", pb.ContainerStatusRequest(container_id=cid),
                timeout=60).status
    deadline = time.monotonic() + 60
    while True:  # the shim writes the line as it reads it
        with open(st.log_path, "rb") as f:
            if b"soak-started" in f.read():
                break
        if time.monotonic() > deadline:
            raise AssertionError("the container's output never reached its log")
        time.sleep(0.05)
    c.call("ReopenContainerLog", pb.ReopenContainerLogRequest(container_id=cid), timeout=60)
    c.call("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=0), timeout=120)
    c.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid), timeout=120)
    c.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=120)
    c.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=120)


def run(env, seconds, clients=8, report=None):
    """Warms up (one lifecycle per client: pools and channels at their steady state), then
    runs the clients for `seconds`. Returns (counts at the start, counts at the end,
    lifecycles done). report(text), if given, gets a line per 10 s."""
    chans = [env.d.client() for _ in range(clients)]
    errors = []

    def warm(i):
        try:
            lifecycle(env, chans[i], f"warm{i}")
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    ts = [threading.Thread(target=warm, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    start = counts(env)
    stop = threading.Event()
    done = [0] * clients

    def work(i):
        try:
            while not stop.is_set():
                lifecycle(env, chans[i], f"soak{i}-{uuid.uuid4().hex[:6]}")
                done[i] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            stop.set()

    ts = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    t0 = time.monotonic()
    while not stop.wait(min(10, max(0.1, seconds - (time.monotonic() - t0)))):
        if time.monotonic() - t0 >= seconds:
            break
        if report:
            report(f"{time.monotonic() - t0:6.0f} s  {sum(done)} lifecycles  {counts(env)}")
    stop.set()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    end = counts(env)
    for c in chans:
        c.close()
    return start, end, sum(done)
