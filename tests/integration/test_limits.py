# SPDX-License-Identifier: Apache-2.0
"""Validation, error classes and deadlines against a real berthd with real runc and
CNI plugins (docs/limits.md):

- requests outside a limit are refused with the code and the field named, and leave
  nothing behind (no record, name, pin, mount, shim, runc container, cgroup or bundle);
- the accepted edge values run with real runc;
- real runc and CNI failures come back with precise codes, ExecSync of a missing or
  unexecutable command ends 127 or 126;
- CreateContainer, StartContainer and RunPodSandbox whose client deadline passes while
  the runtime or a plugin is held up either complete (listed) or leave nothing."""
import json
import os
import threading

import grpc
import pytest

from conftest import poll
from ctrutil import RUNC, env, net, reg, runc_containers  # noqa: F401 (fixtures)
from ctrutil import Env, bridge_conflist, mountpoints_under, procs_mentioning
from registry import test_images  # noqa: F401 (fixture)

SLEEP = ["sh", "-c", "exec sleep 1000"]


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def online_cpus():
    return open("/sys/devices/system/cpu/online").read().strip()


def max_cpu():
    last = online_cpus().split(",")[-1]
    return int(last.split("-")[-1])


def pod_leaks(env):
    """Pods left on the node by refused RunPodSandbox calls."""
    d = env.d
    out = []
    nsroot = os.path.join(d.run_dir, "ns")
    if os.path.isdir(nsroot) and [e for e in os.listdir(nsroot) if not e.startswith(".")]:
        out.append(f"pins left: {os.listdir(nsroot)}")
    sbdir = os.path.join(d.run_dir, "sandboxes")
    if os.path.isdir(sbdir) and os.listdir(sbdir):
        out.append(f"sandbox dirs left: {os.listdir(sbdir)}")
    cache = os.path.join(d.state_dir, "cni")
    if os.path.isdir(cache) and os.listdir(cache):
        out.append(f"CNI cache left: {os.listdir(cache)}")
    mps = [m for m in mountpoints_under(d.root) if m != nsroot]
    if mps:
        out.append(f"mounts left: {mps}")
    return out + env.leaks()


def test_refused_pods_leave_nothing(env):
    pb = env.pb
    cases = []

    def case(code, text, fn):
        cfg = env.pod_config(f"bad{len(cases)}")
        fn(cfg)
        cases.append((code, text, cfg))

    INVALID = grpc.StatusCode.INVALID_ARGUMENT
    case(INVALID, "config.hostname 'a", lambda c: setattr(c, "hostname", "a\nb"))
    case(INVALID, "config.hostname", lambda c: setattr(c, "hostname", "h" * 65))
    case(INVALID, "namespace_options.network 9 is not a NamespaceMode",
         lambda c: setattr(c.linux.security_context.namespace_options, "network", 9))
    case(INVALID, "config.dns_config.servers[0]: dns server 'dns.example' is not an IP address",
         lambda c: c.dns_config.servers.append("dns.example"))
    case(INVALID, "too many config.dns_config.searches (33 > 32)",
         lambda c: c.dns_config.searches.extend(["s.example"] * 33))
    case(INVALID, "config.linux.sysctls: sysctl 'kernel.hostname' is not namespaced",
         lambda c: c.linux.sysctls.update({"kernel.hostname": "x"}))
    case(INVALID, "config.port_mappings[0].container_port 70000 out of range",
         lambda c: c.port_mappings.append(pb.PortMapping(container_port=70000, host_port=80)))
    case(INVALID, "config.metadata.namespace 'a;b' holds ';'",
         lambda c: setattr(c.metadata, "namespace", "a;b"))
    case(INVALID, "config.labels key", lambda c: c.labels.update({"k" * 318: "v"}))
    case(grpc.StatusCode.OUT_OF_RANGE, f"CPU {max_cpu() + 1} is not online on this node",
         lambda c: setattr(c.linux.overhead, "cpuset_cpus", str(max_cpu() + 1)))
    for code, text, cfg in cases:
        e = rpc_error(env.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
        assert e.code() == code, (text, e.details())
        assert text in e.details(), (text, e.details())
    assert list(env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items) == []
    assert pod_leaks(env) == []
    # the names were never held: the same config runs once it is right
    cfg = cases[0][2]
    cfg.hostname = "fixed"
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    assert [p.id for p in env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items] == [sid]


def test_refused_containers_leave_nothing(env):
    pb = env.pb
    pod = env.pod()
    INVALID = grpc.StatusCode.INVALID_ARGUMENT

    def res(**kw):
        return {"linux": pb.LinuxContainerConfig(resources=pb.LinuxContainerResources(**kw))}

    big = "a" * 131072
    cases = [
        (INVALID, "config.linux.resources.cpu_shares 1 out of range (2..262144)",
         res(cpu_shares=1), {}),
        (INVALID, "cpu_shares 262145", res(cpu_shares=262145), {}),
        (INVALID, "cpu_quota 999 out of range", res(cpu_quota=999), {}),
        (INVALID, "cpu_period 1000001 out of range", res(cpu_period=1000001), {}),
        (INVALID, "memory_limit_in_bytes 6291455 out of range",
         res(memory_limit_in_bytes=(6 << 20) - 1), {}),
        (INVALID, "memory_swap_limit_in_bytes 33554431 is below memory_limit_in_bytes",
         res(memory_limit_in_bytes=32 << 20, memory_swap_limit_in_bytes=(32 << 20) - 1), {}),
        (INVALID, "oom_score_adj 1001 out of range (-1000..1000)", res(oom_score_adj=1001), {}),
        (INVALID, "oom_score_adj -1001", res(oom_score_adj=-1001), {}),
        (grpc.StatusCode.OUT_OF_RANGE, f"CPU {max_cpu() + 1} is not online",
         res(cpuset_cpus=f"0,{max_cpu() + 1}"), {}),
        (INVALID, "cpuset_cpus '1-0': range 1-0 goes down", res(cpuset_cpus="1-0"), {}),
        (grpc.StatusCode.OUT_OF_RANGE, "memory node 1000 is not online",
         res(cpuset_mems="1000"), {}),
        (INVALID, "page_size '3MBX' is not a size",
         res(hugepage_limits=[pb.HugepageLimit(page_size="3MBX", limit=0)]), {}),
        (INVALID, "config.args[0] too long (131072 > 131071 bytes)", {}, {"args": [big]}),
        (INVALID, "too many config.mounts (1025 > 1024)", {},
         {"mounts": [pb.Mount(host_path="/tmp", container_path="/m")] * 1025}),
        (INVALID, "config.mounts[0].container_path 'data' is not an absolute path", {},
         {"mounts": [pb.Mount(host_path="/tmp", container_path="data")]}),
        (INVALID, "config.mounts[0].propagation 5 is not a MountPropagation", {},
         {"mounts": [pb.Mount(host_path="/tmp", container_path="/m", propagation=5)]}),
        (INVALID, "config.stop_signal 99 is not a Signal", {}, {"stop_signal": 99}),
        (INVALID, "config.devices[0].permissions 'rwx'", {},
         {"devices": [pb.Device(host_path="/dev/null", container_path="/dev/n",
                                permissions="rwx")]}),
        (INVALID, "config.log_path '../x.log' has a '..' component", {},
         {"log_path": "../x.log"}),
        (grpc.StatusCode.UNIMPLEMENTED, "CDI devices are not supported", {},
         {"CDI_devices": [pb.CDIDevice(name="vendor.example/gpu=0")]}),
    ]
    for code, text, linux, kw in cases:
        cfg = env.ctr_config("c", command=SLEEP, **linux)
        for k, v in kw.items():
            if isinstance(v, list):
                del getattr(cfg, k)[:]
                getattr(cfg, k).extend(v)
            else:
                setattr(cfg, k, v)
        e = rpc_error(env.create, pod, cfg)
        assert e.code() == code, (text, e.details())
        assert text in e.details(), (text, e.details())
    assert env.list() == []
    assert env.leaks(pods=False) == []
    # the name is free: the same container runs once it is right
    cid = env.run(pod, "c", SLEEP)
    assert [c.id for c in env.list()] == [cid]
    # an update outside a limit changes nothing either
    upd = pb.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb.LinuxContainerResources(cpu_period=999))
    e = rpc_error(env.call, "UpdateContainerResources", upd)
    assert e.code() == INVALID and "linux.cpu_period 999 out of range" in e.details()
    assert env.status(cid).status.resources.linux.cpu_period == 0
    # swap alone is fine in an update, checked against the memory it is merged with
    upd = pb.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb.LinuxContainerResources(memory_swap_limit_in_bytes=8 << 20))
    e = rpc_error(env.call, "UpdateContainerResources", upd)
    assert e.code() == INVALID
    assert "memory_swap_limit_in_bytes is set without memory_limit_in_bytes" in e.details()
    # other RPCs
    e = rpc_error(env.exec, cid, ["true"], timeout=-1)
    assert e.code() == INVALID and "timeout -1 out of range" in e.details()
    e = rpc_error(env.stop, cid, timeout=-5)
    assert e.code() == INVALID and "timeout -5 out of range" in e.details()
    assert env.state(cid) == pb.CONTAINER_RUNNING
    e = rpc_error(env.call, "ListContainers", pb.ListContainersRequest(
        filter=pb.ContainerFilter(state=pb.ContainerStateValue(state=7))))
    assert e.code() == INVALID and "filter.state.state 7 is not a ContainerState" in e.details()
    e = rpc_error(env.call, "PullImage", pb.PullImageRequest(
        image=pb.ImageSpec(image=env.image("busybox")),
        auth=pb.AuthConfig(username="u", password="p\r\nX-Injected: 1")))
    assert e.code() == INVALID and "auth.password holds a control character" in e.details()
    assert "X-Injected" not in e.details()


def cgroup_file(env, cid, ctrl, name):
    cg = env.info(cid)["cgroupsPath"].lstrip("/")
    for p in (f"/sys/fs/cgroup/{ctrl}/{cg}/{name}", f"/sys/fs/cgroup/{cg}/{name}"):
        if os.path.exists(p):
            return open(p).read().strip()
    return None


def test_accepted_edge_values_run(env):
    pb = env.pb
    pod = env.pod()

    def run(name, cmd, **res):
        cfg = env.ctr_config(name, command=cmd, linux=pb.LinuxContainerConfig(
            resources=pb.LinuxContainerResources(**res)))
        cid = env.create(pod, cfg)
        env.start(cid)
        return cid

    # 16 MiB, not the 6 MiB minimum: runc's init alone can use more than 6 MiB on a
    # loaded node, which then fails as RESOURCE_EXHAUSTED (test_runtime_error_classes)
    cid = run("low", SLEEP, cpu_shares=2, cpu_period=1000, cpu_quota=1000,
              memory_limit_in_bytes=16 << 20, oom_score_adj=1000, cpuset_cpus=online_cpus(),
              cpuset_mems="0")
    assert env.state(cid) == pb.CONTAINER_RUNNING
    r = env.exec(cid, ["sh", "-c", "cat /proc/self/oom_score_adj"])
    assert (r.exit_code, r.stdout) == (0, b"1000\n")
    shares = cgroup_file(env, cid, "cpu", "cpu.shares")
    if shares is not None:
        assert shares == "2"
    quota = cgroup_file(env, cid, "cpu", "cpu.cfs_quota_us")
    if quota is not None:
        assert quota == "1000"
    mem = cgroup_file(env, cid, "memory", "memory.limit_in_bytes")
    if mem is not None:
        assert int(mem) == 16 << 20
    cid2 = run("high", SLEEP, cpu_shares=262144, cpu_period=1000000, cpu_quota=-1,
               oom_score_adj=-1000)
    assert env.state(cid2) == pb.CONTAINER_RUNNING
    shares = cgroup_file(env, cid2, "cpu", "cpu.shares")
    if shares is not None:
        assert shares == "262144"
    # an env entry of 131071 bytes and an argument of the same size reach the process
    val = "v" * (131071 - len("BIG="))
    cfg = env.ctr_config("bigenv", command=["sh", "-c", 'echo ${#BIG} ${#1}', "sh",
                                            "a" * 131071])
    cfg.envs.append(pb.KeyValue(key="BIG", value=val.encode()))
    cid3 = env.create(pod, cfg)
    env.start(cid3)
    env.wait_exited(cid3)
    st = env.status(cid3).status
    assert st.exit_code == 0, st.message
    assert env.log_records(cid3)[0][2] == f"{len(val)} 131071".encode()


def test_exec_sync_of_missing_or_unexecutable_command(env):
    pod = env.pod()
    cid = env.run(pod, "x", SLEEP)
    r = env.exec(cid, ["/no/such-program", "arg"])
    assert r.exit_code == 127
    assert b"/no/such-program" in r.stderr and b"no such file or directory" in r.stderr
    r = env.exec(cid, ["no-such-program"])
    assert r.exit_code == 127 and b"executable file not found" in r.stderr
    r = env.exec(cid, ["/etc/passwd"])
    assert r.exit_code == 126 and b"permission denied" in r.stderr
    # the container is fine and the next exec works
    r = env.exec(cid, ["sh", "-c", "echo ok"])
    assert (r.exit_code, r.stdout) == (0, b"ok\n")


def test_runtime_failures_classified(env, tmp_path):
    pb = env.pb
    pod = env.pod()
    e = rpc_error(env.create, pod, env.ctr_config("nf", command=["/no/such-cmd"]))
    assert e.code() == grpc.StatusCode.NOT_FOUND, e.details()
    assert "not found" in e.details() and "/no/such-cmd" in e.details()
    e = rpc_error(env.create, pod, env.ctr_config("np", command=["no-such-cmd"]))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert "executable not found" in e.details() and "no-such-cmd" in e.details()
    e = rpc_error(env.create, pod, env.ctr_config("ne", command=["/etc/passwd"]))
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e.details()
    assert "/etc/passwd" in e.details()
    # a file mounted over a directory: runc refuses the spec value
    f = tmp_path / "file"
    f.write_text("x")
    cfg = env.ctr_config("mf", command=SLEEP)
    cfg.mounts.append(pb.Mount(host_path=str(f), container_path="/bin"))
    e = rpc_error(env.create, pod, cfg)
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    assert "not a directory" in e.details()
    assert env.list() == []
    assert env.leaks(pods=False) == []


def test_cni_failures_classified(env):
    pb = env.pb
    d = env.d
    # a range with one address: the second pod exhausts it (real host-local)
    conf = bridge_conflist(d)
    conf["plugins"][0]["bridge"] = "berth9"
    conf["plugins"][0]["ipam"]["ranges"] = [[{"subnet": "10.89.7.0/30"}]]
    with open(os.path.join(d.cni_dir, "10-test.conflist"), "w") as fh:
        json.dump(conf, fh)
    sid, _ = env.pod("one")
    e = rpc_error(env.pod, "two")
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e.details()
    assert "no IP addresses available" in e.details()
    # a config the plugin calls invalid (CNI error code 7): the node's problem
    conf = bridge_conflist(d)
    conf["plugins"][0]["bridge"] = "berth9"
    conf["plugins"][0]["ipam"]["ranges"] = [[{"subnet": "not-a-subnet"}]]
    with open(os.path.join(d.cni_dir, "10-test.conflist"), "w") as fh:
        json.dump(conf, fh)
    e = rpc_error(env.pod, "three")
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert [p.id for p in env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items] == [sid]


# ---- deadlines ----

GATED_RUNC = """#!/bin/sh
# runc, held at the given command until the gate file exists
for a in "$@"; do
  if [ "$a" = "{cmd}" ]; then
    : > "{root}/held.{cmd}"
    while [ ! -e "{root}/gate.{cmd}" ]; do sleep 0.02; done
    break
  fi
done
exec {runc} "$@"
"""


@pytest.fixture
def gated(berthd_factory, net, reg):
    """An Env whose runtime is runc behind a gate for create and start."""
    holder = {}

    def make(cmd):
        d = berthd_factory(netns=net, start=False)
        path = os.path.join(d.root, "gated-runc")
        with open(path, "w") as fh:
            fh.write(GATED_RUNC.format(cmd=cmd, root=d.root, runc=RUNC))
        os.chmod(path, 0o755)
        d.config["runtimes"] = {"runc": {"path": path}}
        with open(d.config_path, "w") as fh:
            json.dump(d.config, fh)
        d.start()
        e = Env(d, reg)
        e.pull("busybox")
        holder["env"] = e
        return e

    yield make
    e = holder.get("env")
    if e:
        for cmd in ("create", "start"):
            open(os.path.join(e.d.root, f"gate.{cmd}"), "w").close()
        leaks = e.cleanup()
        assert not leaks, leaks


def call_ended(d, method, n=1):
    """berthd logs every call once its handler returned (cri/server.c)."""
    return d.stderr().count(f"method={method} ") >= n


def node_matches_list(env):
    """Every runc container, shim, bundle and rootfs mount belongs to a listed container."""
    listed = {c.id for c in env.list()}
    cdir = os.path.join(env.d.run_dir, "c")
    bundles = set(os.listdir(cdir)) if os.path.isdir(cdir) else set()
    mounts = {m.split("/")[-2] for m in mountpoints_under(cdir)}
    shims = set()
    for b in bundles:
        if procs_mentioning(os.path.join(cdir, b)):
            shims.add(b)
    return {"runc": set(runc_containers(env.d)) - listed, "bundles": bundles - listed,
            "mounts": mounts - listed, "shims": shims - listed}


def test_create_past_its_deadline_is_listed_or_gone(gated):
    env = gated("create")
    pb = env.pb
    pod = env.pod()
    cfg = env.ctr_config("late", command=SLEEP)
    req = pb.CreateContainerRequest(pod_sandbox_id=pod[0], config=cfg, sandbox_config=pod[1])
    result = {}

    def call():
        try:
            env.c.call("CreateContainer", req, timeout=1)
        except grpc.RpcError as e:
            result["code"] = e.code()

    t = threading.Thread(target=call)
    t.start()
    t.join()
    assert result["code"] == grpc.StatusCode.DEADLINE_EXCEEDED
    # the runtime is still held in `runc create` with the shim around it
    assert os.path.exists(os.path.join(env.d.root, "held.create"))
    open(os.path.join(env.d.root, "gate.create"), "w").close()
    poll(lambda: call_ended(env.d, "CreateContainer"), 60, "CreateContainer to end")
    left = node_matches_list(env)
    assert left == {"runc": set(), "bundles": set(), "mounts": set(), "shims": set()}, left
    # and what is listed is usable; here the create was rolled back, so kubelet's retry
    # with the same name succeeds
    assert env.list() == []
    cid = env.create(pod, cfg)
    assert [c.id for c in env.list()] == [cid]


def test_start_past_its_deadline_completes(gated):
    env = gated("start")
    pb = env.pb
    pod = env.pod()
    cid = env.create(pod, env.ctr_config("slowstart", command=SLEEP))
    e = rpc_error(env.c.call, "StartContainer", pb.StartContainerRequest(container_id=cid),
                  timeout=1)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert env.state(cid) == pb.CONTAINER_CREATED
    open(os.path.join(env.d.root, "gate.start"), "w").close()
    poll(lambda: call_ended(env.d, "StartContainer"), 60, "StartContainer to end")
    # runc start ran to the end: the container runs and is listed as running
    assert env.state(cid) == pb.CONTAINER_RUNNING
    assert [c.id for c in env.list()] == [cid]
    assert node_matches_list(env) == {"runc": set(), "bundles": set(), "mounts": set(),
                                      "shims": set()}


GATED_PLUGIN = """#!/bin/sh
# a CNI plugin held on ADD until the gate file exists; passes prevResult on
input=$(cat)
if [ "$CNI_COMMAND" = ADD ]; then
  : > "{root}/held.cni"
  while [ ! -e "{root}/gate.cni" ]; do sleep 0.02; done
  printf '%s' "$input" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["prevResult"]))'
fi
exit 0
"""


def test_run_pod_past_its_deadline_is_listed_or_gone(env):
    pb = env.pb
    d = env.d
    bindir = os.path.join(d.root, "bin")
    os.makedirs(bindir, exist_ok=True)
    with open(os.path.join(bindir, "gate"), "w") as fh:
        fh.write(GATED_PLUGIN.format(root=d.root))
    os.chmod(os.path.join(bindir, "gate"), 0o755)
    env.c.close()
    d.stop()
    d.check_exit()
    d.config["cni"]["bin_dirs"] = [bindir, "/usr/lib/cni"]
    with open(d.config_path, "w") as fh:
        json.dump(d.config, fh)
    conf = bridge_conflist(d)
    conf["plugins"].append({"type": "gate"})
    with open(os.path.join(d.cni_dir, "10-test.conflist"), "w") as fh:
        json.dump(conf, fh)
    d.start()
    env.c = d.client()
    cfg = env.pod_config("late")
    e = rpc_error(env.c.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg), timeout=1)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert os.path.exists(os.path.join(d.root, "held.cni"))
    open(os.path.join(d.root, "gate.cni"), "w").close()
    poll(lambda: call_ended(d, "RunPodSandbox"), 60, "RunPodSandbox to end")
    items = list(env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items)
    if items:  # completed: listed and ready
        assert items[0].state == pb.SANDBOX_READY
    else:  # rolled back: nothing of it on the node
        assert pod_leaks(env) == []
        sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        assert sid
