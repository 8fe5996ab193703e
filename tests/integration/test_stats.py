# SPDX-License-Identifier: Apache-2.0
"""Stats RPCs (ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats)
on real containers in real pods: CPU and memory from the containers' cgroups, the
writable layer's usage from the overlay upper dir, the pod's interface counters from
its network namespace.

Every test ends with the leak check of the container tests (ctrutil.Env.cleanup)."""
import os

import grpc
import pytest

from conftest import poll
from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

MIB = 1 << 20
SLEEP = ["sh", "-c", "exec sleep 1000"]
GATEWAY = "10.88.0.1"  # the bridge of ctrutil.bridge_conflist (isGateway)



def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def ctr_stats(env, cid):
    return env.call("ContainerStats", env.pb.ContainerStatsRequest(container_id=cid)).stats


def list_ctr_stats(env, **filt):
    req = env.pb.ListContainerStatsRequest(filter=env.pb.ContainerStatsFilter(**filt))
    return list(env.call("ListContainerStats", req).stats)


def pod_stats(env, sid):
    return env.call("PodSandboxStats", env.pb.PodSandboxStatsRequest(pod_sandbox_id=sid)).stats


def list_pod_stats(env, **filt):
    req = env.pb.ListPodSandboxStatsRequest(filter=env.pb.PodSandboxStatsFilter(**filt))
    return list(env.call("ListPodSandboxStats", req).stats)


def test_container_cpu_memory_and_writable_layer(env):
    pb = env.pb
    pod = env.pod()
    # 32 MiB held in a shell variable, then a busy loop
    alloc = 32 * MIB
    script = (f'a=$(head -c {alloc} /dev/zero | tr "\\000" x); touch /ready; '
              'while :; do :; done')
    limit = 256 * MIB
    res = pb.LinuxContainerResources(memory_limit_in_bytes=limit)
    cid = env.run(pod, "burn", ["sh", "-c", script],
                  linux=pb.LinuxContainerConfig(resources=res))
    poll(lambda: env.exec(cid, ["sh", "-c", "test -f /ready"]).exit_code == 0, 30,
         "the allocation")

    s1 = ctr_stats(env, cid)
    a = s1.attributes
    assert a.id == cid
    assert a.metadata.name == "burn" and a.metadata.attempt == 0
    assert dict(a.labels) == {"app": "burn"}
    assert dict(a.annotations) == {"note": "x"}
    assert s1.cpu.timestamp > 0
    assert s1.cpu.usage_core_nano_seconds.value > 0
    m = s1.memory
    assert m.working_set_bytes.value >= alloc
    assert m.usage_bytes.value >= m.working_set_bytes.value
    assert m.rss_bytes.value >= alloc
    assert m.page_faults.value > 0
    assert m.HasField("major_page_faults")
    assert m.available_bytes.value == limit - m.working_set_bytes.value
    # swap where the kernel accounts it (v1 memsw, v2 memory.swap.*)
    swap_acct = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.usage_in_bytes") or \
        os.path.exists("/sys/fs/cgroup/init.scope/memory.swap.current")
    assert s1.HasField("swap") == swap_acct
    if swap_acct:
        assert s1.swap.timestamp == s1.memory.timestamp
        assert s1.swap.HasField("swap_usage_bytes")

    # the second sample grows, and the rate since the first is there
    def grown():
        s = ctr_stats(env, cid)
        return s if s.cpu.usage_core_nano_seconds.value > \
            s1.cpu.usage_core_nano_seconds.value else None
    s2 = poll(grown, 10, "CPU usage to grow")
    assert s2.cpu.timestamp > s1.cpu.timestamp
    assert s2.cpu.HasField("usage_nano_cores")
    assert s2.cpu.usage_nano_cores.value > 0

    # a prefix of the ID names the container too
    assert ctr_stats(env, cid[:12]).attributes.id == cid

    # the writable layer: 4 MiB more after the container writes a file
    l1 = s2.writable_layer
    assert l1.fs_id.mountpoint.startswith("/")
    assert l1.inodes_used.value >= 1
    r = env.exec(cid, ["sh", "-c", f"head -c {4 * MIB} /dev/urandom > /big"])
    assert r.exit_code == 0, r.stderr
    l2 = ctr_stats(env, cid).writable_layer
    assert l2.used_bytes.value >= l1.used_bytes.value + 4 * MIB
    assert l2.inodes_used.value == l1.inodes_used.value + 1
    assert l2.timestamp > l1.timestamp

    # ImageFsInfo's container filesystem holds the writable layers: it grew as well, and
    # is the same filesystem as the layers' (one state dir here)
    fs = env.call("ImageFsInfo", env.pb.ImageFsInfoRequest())
    assert len(fs.container_filesystems) == 1
    cfs = fs.container_filesystems[0]
    assert cfs.fs_id.mountpoint == l2.fs_id.mountpoint
    assert cfs.fs_id.mountpoint == fs.image_filesystems[0].fs_id.mountpoint
    assert cfs.used_bytes.value >= l2.used_bytes.value
    r = env.exec(cid, ["sh", "-c", f"head -c {4 * MIB} /dev/urandom > /big2"])
    assert r.exit_code == 0, r.stderr
    cfs2 = env.call("ImageFsInfo", env.pb.ImageFsInfoRequest()).container_filesystems[0]
    assert cfs2.used_bytes.value >= cfs.used_bytes.value + 4 * MIB
    assert cfs2.inodes_used.value == cfs.inodes_used.value + 1
    env.stop(cid)


def test_list_container_stats_filters(env):
    pod_a, pod_b = env.pod("a"), env.pod("b")
    a1 = env.run(pod_a, "a1", SLEEP)
    cfg = env.ctr_config("a2", command=SLEEP)
    cfg.labels["tier"] = "front"
    a2 = env.create(pod_a, cfg)
    env.start(a2)
    cfg = env.ctr_config("b1", command=SLEEP)
    cfg.labels["tier"] = "front"
    b1 = env.create(pod_b, cfg)
    env.start(b1)
    done = env.run(pod_b, "done", ["sh", "-c", "true"])
    env.wait_exited(done)

    def ids(**filt):
        return sorted(s.attributes.id for s in list_ctr_stats(env, **filt))

    assert ids() == sorted([a1, a2, b1, done])
    assert ids(pod_sandbox_id=pod_a[0]) == sorted([a1, a2])
    assert ids(pod_sandbox_id=pod_b[0][:10]) == sorted([b1, done])
    assert ids(label_selector={"tier": "front"}) == sorted([a2, b1])
    assert ids(label_selector={"app": "a1"}) == [a1]
    assert ids(label_selector={"app": "a1", "tier": "front"}) == []
    assert ids(id=a2[:9]) == [a2]
    assert ids(id=a2, pod_sandbox_id=pod_b[0]) == []
    assert ids(id="f" * 64) == []
    assert ids(pod_sandbox_id="0" * 64) == []

    # the stream variant: the same list, in batches
    req = env.pb.StreamContainerStatsRequest(
        filter=env.pb.ContainerStatsFilter(pod_sandbox_id=pod_a[0]))
    got = [s.attributes.id for m in env.c.stream("StreamContainerStats", req)
           for s in m.container_stats]
    assert sorted(got) == sorted([a1, a2])
    req = env.pb.StreamContainerStatsRequest(filter=env.pb.ContainerStatsFilter(id="f" * 64))
    assert list(env.c.stream("StreamContainerStats", req)) == []

    by_id = {s.attributes.id: s for s in list_ctr_stats(env)}
    for cid in (a1, a2, b1):
        assert by_id[cid].cpu.usage_core_nano_seconds.value > 0
        assert by_id[cid].memory.working_set_bytes.value > 0
        # no limit: nothing available to report
        assert not by_id[cid].memory.HasField("available_bytes")
    # an exited container is listed with what still exists: no cgroup figures
    ex = by_id[done]
    assert ex.attributes.metadata.name == "done"
    assert not ex.HasField("cpu") and not ex.HasField("memory")
    assert ex.writable_layer.HasField("used_bytes")


def test_pod_sandbox_stats_network_and_containers(env):
    pod = env.pod("net")
    sid = pod[0]
    cid = env.run(pod, "c", SLEEP)
    p1 = pod_stats(env, sid)
    assert p1.attributes.id == sid
    assert p1.attributes.metadata.name == "net"
    assert p1.attributes.metadata.namespace == "default"
    lx = p1.linux
    net = lx.network
    assert net.timestamp > 0
    assert net.default_interface.name == "eth0"
    assert [i.name for i in net.interfaces] == ["eth0"]  # lo is left out
    assert [c.attributes.id for c in lx.containers] == [cid]
    assert lx.containers[0].cpu.usage_core_nano_seconds.value > 0
    assert lx.process.process_count.value >= 1
    # the pod cgroup holds the pod init and the container
    assert lx.cpu.usage_core_nano_seconds.value > 0
    assert lx.memory.working_set_bytes.value > 0

    r = env.exec(cid, ["sh", "-c", f"ping -c 3 -W 5 {GATEWAY}"], timeout=30)
    assert r.exit_code == 0, r.stdout + r.stderr
    p2 = pod_stats(env, sid)
    d1, d2 = p1.linux.network.default_interface, p2.linux.network.default_interface
    assert d2.rx_bytes.value >= d1.rx_bytes.value + 3 * 84
    assert d2.tx_bytes.value >= d1.tx_bytes.value + 3 * 84
    assert d2.rx_errors.value == d1.rx_errors.value
    assert d2.tx_errors.value == 0
    assert p2.linux.cpu.usage_core_nano_seconds.value >= lx.cpu.usage_core_nano_seconds.value
    assert p2.linux.cpu.HasField("usage_nano_cores")

    # the list: ready pods only, filtered by ID (prefix) and labels
    other = env.pod("other")
    env.call("StopPodSandbox", env.pb.StopPodSandboxRequest(pod_sandbox_id=other[0]))
    assert [s.attributes.id for s in list_pod_stats(env)] == [sid]
    assert [s.attributes.id for s in list_pod_stats(env, id=sid[:8])] == [sid]
    assert list_pod_stats(env, id=other[0]) == []
    assert list_pod_stats(env, label_selector={"x": "y"}) == []
    msgs = list(env.c.stream("StreamPodSandboxStats", env.pb.StreamPodSandboxStatsRequest()))
    assert [s.attributes.id for m in msgs for s in m.pod_sandbox_stats] == [sid]
    listed = list_pod_stats(env)[0]
    assert [c.attributes.id for c in listed.linux.containers] == [cid]
    assert listed.linux.network.default_interface.name == "eth0"


def test_host_network_pod_has_no_network_stats(env):
    pod = env.pod("host", host_network=True)
    cid = env.run(pod, "c", SLEEP)
    s = pod_stats(env, pod[0])
    assert not s.linux.HasField("network")
    assert [c.attributes.id for c in s.linux.containers] == [cid]
    assert s.linux.process.process_count.value >= 1


def test_stats_bad_requests(env):
    pb = env.pb
    e = rpc_error(ctr_stats, env, "f" * 64)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert f"container '{'f' * 64}' not found" in e.details()
    e = rpc_error(ctr_stats, env, "")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(pod_stats, env, "0" * 64)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "not found" in e.details()
    e = rpc_error(pod_stats, env, "")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a stopped pod has nothing to report
    sid = env.pod("stopped")[0]
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    e = rpc_error(pod_stats, env, sid)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is not ready" in e.details()
    assert env.d.running()
