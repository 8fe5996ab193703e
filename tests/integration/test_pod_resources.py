# SPDX-License-Identifier: Apache-2.0
"""Pod-level resources (issue 11): LinuxPodSandboxConfig.resources and overhead at
RunPodSandbox and UpdatePodSandboxResources are validated, recorded (PodSandboxStatus
verbose info, kept across a SIGKILL restart) and applied to berth's own cgroup of the pod
(<cgroup_parent>/berth-<id12>) as resources + overhead, while kubelet's cgroup_parent,
created here with limits of its own, is never written. Real pods in a real berthd; the
leak check of ctrutil.Env.cleanup runs after each test."""
import json
import os

import grpc
import pytest

from ctrutil import CGROUP_ROOT, env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

MiB = 1 << 20
V2 = os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))
# the limit files of a cgroup, per controller hierarchy ("" on v2)
LIMIT_FILES = {"": ["memory.max", "memory.high", "cpu.max", "cpu.weight"]} if V2 else {
    "memory": ["memory.limit_in_bytes", "memory.soft_limit_in_bytes"],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"]}  # cpu may link cpu,cpuacct


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def cg_file(rel, name):
    for h, names in LIMIT_FILES.items():
        if name in names:
            return os.path.join(CGROUP_ROOT, h, rel.lstrip("/"), name)
    raise KeyError(name)


def read(rel, name):
    with open(cg_file(rel, name)) as f:
        return f.read().strip()


def snapshot(rel):
    return {n: read(rel, n) for names in LIMIT_FILES.values() for n in names
            if os.path.exists(cg_file(rel, n))}


def kubelet_parent(rel):
    """cgroup_parent as kubelet makes it: created first, with limits of its own."""
    for h in LIMIT_FILES:
        assert os.path.isfile(os.path.join(CGROUP_ROOT, h, "cgroup.procs")), h
        os.makedirs(os.path.join(CGROUP_ROOT, h, rel.lstrip("/")), exist_ok=True)
    own = {"memory.max": str(1024 * MiB), "cpu.max": "400000 100000"} if V2 else {
        "memory.limit_in_bytes": str(1024 * MiB), "cpu.shares": "4096",
        "cpu.cfs_quota_us": "400000"}
    for name, value in own.items():
        if os.path.exists(cg_file(rel, name)):
            with open(cg_file(rel, name), "w") as f:
                f.write(value)
    return snapshot(rel)


def info(env, sid):
    r = env.call("PodSandboxStatus", env.pb.PodSandboxStatusRequest(pod_sandbox_id=sid,
                                                                     verbose=True))
    return json.loads(r.info["info"])


def res(pb, **kw):
    return pb.LinuxContainerResources(**kw)


def update(env, sid, **kw):
    return env.call("UpdatePodSandboxResources",
                    env.pb.UpdatePodSandboxResourcesRequest(pod_sandbox_id=sid, **kw))


def pod_limits(rel):
    """What berth's pod cgroup holds: (memory, cpu shares or weight, cpu quota)."""
    if V2:
        return (int(read(rel, "memory.max")), int(read(rel, "cpu.weight")),
                int(read(rel, "cpu.max").split()[0]))
    return (int(read(rel, "memory.limit_in_bytes")), int(read(rel, "cpu.shares")),
            int(read(rel, "cpu.cfs_quota_us")))


def shares(n):
    """cpu.shares as the pod cgroup shows them (v2: runc's weight conversion)."""
    return 1 + ((n - 2) * 9999) // 262142 if V2 else n


def test_pod_resources_recorded_applied_and_kept(env):
    pb = env.pb
    parent = env.cgroup_parent
    before = kubelet_parent(parent)
    cfg = env.pod_config("sized")
    cfg.linux.resources.CopyFrom(res(pb, cpu_shares=512, cpu_quota=50000, cpu_period=100000,
                                     memory_limit_in_bytes=256 * MiB))
    cfg.linux.overhead.CopyFrom(res(pb, cpu_shares=128, cpu_quota=10000,
                                    memory_limit_in_bytes=64 * MiB))
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    mine = f"{parent}/berth-{sid[:12]}"
    i = info(env, sid)
    assert (i["resources"]["cpuShares"], i["resources"]["cpuQuota"],
            i["resources"]["memoryLimitInBytes"]) == (512, 50000, 256 * MiB)
    assert (i["overhead"]["cpuShares"], i["overhead"]["memoryLimitInBytes"]) == (128, 64 * MiB)
    assert i["podCgroupLimits"] == {"cpuShares": 640, "cpuQuota": 60000, "cpuPeriod": 100000,
                                    "memoryLimitInBytes": 320 * MiB}
    assert pod_limits(mine) == (320 * MiB, shares(640), 60000)
    # the pod's stats read that cgroup: its limit is the pod's envelope
    st = env.call("PodSandboxStats", pb.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats
    assert 0 < st.linux.memory.available_bytes.value <= 320 * MiB

    # an update merges as UpdateContainerResources does: zero fields keep their value
    update(env, sid, resources=res(pb, cpu_shares=1024, memory_limit_in_bytes=512 * MiB))
    i = info(env, sid)
    assert (i["resources"]["cpuShares"], i["resources"]["cpuQuota"],
            i["resources"]["memoryLimitInBytes"]) == (1024, 50000, 512 * MiB)
    assert i["overhead"]["memoryLimitInBytes"] == 64 * MiB
    assert pod_limits(mine) == (576 * MiB, shares(1152), 60000)

    # bad values: INVALID_ARGUMENT naming the field, nothing changed
    good = info(env, sid)
    for kw, what in ((dict(resources=res(pb, memory_limit_in_bytes=-1)), "memory"),
                     (dict(resources=res(pb, cpu_period=10)), "cpu_period"),
                     (dict(resources=res(pb, cpu_quota=-5)), "cpu_quota"),
                     (dict(overhead=res(pb, cpu_shares=1)), "linux.overhead: cpu_shares"),
                     (dict(resources=res(pb, unified={"a/b": "1"})), "unified key"),
                     (dict(), "neither overhead nor resources")):
        e = rpc_error(update, env, sid, **kw)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
        assert what in e.details(), e.details()
        assert info(env, sid) == good
        assert pod_limits(mine) == (576 * MiB, shares(1152), 60000)

    e = rpc_error(update, env, "f" * 64, resources=res(pb, cpu_shares=2))
    assert e.code() == grpc.StatusCode.NOT_FOUND and "f" * 64 in e.details()
    e = rpc_error(update, env, "", resources=res(pb, cpu_shares=2))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT

    # kept across a SIGKILL restart
    env.d.kill()
    env.c.close()
    env.d.start()
    env.c = env.d.client()
    assert info(env, sid) == good
    update(env, sid, overhead=res(pb, memory_limit_in_bytes=128 * MiB))
    assert pod_limits(mine) == (640 * MiB, shares(1152), 60000)

    # a pod that is not ready takes no update
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    e = rpc_error(update, env, sid, resources=res(pb, cpu_shares=2))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "not ready" in e.details()
    assert info(env, sid)["overhead"]["memoryLimitInBytes"] == 128 * MiB
    assert snapshot(parent) == before  # kubelet's cgroup was never written


def test_pod_resources_refused_at_run(env):
    """RunPodSandbox with a bad value is INVALID_ARGUMENT and leaves no pod behind."""
    pb = env.pb
    cfg = env.pod_config("bad")
    cfg.linux.resources.CopyFrom(res(pb, cpu_shares=-3))
    e = rpc_error(env.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "linux.resources" in e.details()
    assert len(env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items) == 0
    # the name is free again
    cfg.linux.resources.cpu_shares = 2
    env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))


def test_pod_without_cgroup_of_its_own(env):
    """Without a cgroup_parent berth has no cgroup of the pod: the resources are recorded
    and PodSandboxStats takes the pod's memory envelope as its limit."""
    pb = env.pb
    cfg = env.pod_config("flat")
    cfg.linux.cgroup_parent = ""
    cfg.linux.resources.CopyFrom(res(pb, memory_limit_in_bytes=200 * MiB))
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    i = info(env, sid)
    assert i["resources"]["memoryLimitInBytes"] == 200 * MiB
    assert i["podCgroupLimits"] is None
    env.run((sid, cfg), "c", ["sh", "-c", "exec sleep 1000"])
    update(env, sid, overhead=res(pb, memory_limit_in_bytes=56 * MiB))
    st = env.call("PodSandboxStats", pb.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats
    assert 0 < st.linux.memory.available_bytes.value <= 256 * MiB
    assert st.linux.memory.available_bytes.value > 200 * MiB
