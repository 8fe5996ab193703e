# SPDX-License-Identifier: Apache-2.0
"""The fault matrix (docs/robustness.md): berthd of a test build (BERTH_FAULTS) is
SIGKILLed at a named point of RunPodSandbox, CreateContainer, StartContainer,
StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox and PullImage
(BERTH_FAULT=<point>), or a state dir write fails with ENOSPC or EIO; CNI plugins fail on
ADD and DEL. After each:

- the restarted berthd answers, and what it lists is what the node has (no runc
  container, shim, bundle or rootfs mount outside its answers);
- kubelet's retry succeeds: the same request when the object is not listed, the next
  attempt (kubelet counts attempts from what is listed) when it is, and the listed
  leftover is stopped and removed as kubelet's GC does;
- once everything is removed through the RPCs, nothing is left: mounts, pins, veths,
  IP reservations, cgroups, shims and other processes, bundles, CNI cache, and the
  names are free again (the same config runs again)."""
import json
import os
import subprocess

import grpc
import pytest

from conftest import poll
from ctrutil import RUNC, env, net, reg, runc_containers  # noqa: F401 (fixtures)
from ctrutil import Env, bridge_conflist, mountpoints_under, procs_mentioning
from registry import test_images  # noqa: F401 (fixture)

SLEEP = ["sh", "-c", "exec sleep 1000"]


def fault_build():
    return os.path.join(os.environ.get("BERTH_BUILD", "build"), "CMakeCache.txt")


@pytest.fixture(scope="module", autouse=True)
def _faults_compiled_in():
    with open(fault_build()) as f:
        if "BERTH_FAULTS:BOOL=ON" not in f.read():
            pytest.fail("the fault matrix needs a build with -DBERTH_FAULTS=ON "
                        "(scripts/test.sh makes one)")


def node_leaks(env):
    """What is left on the node of pods and containers once none is listed."""
    d = env.d
    out = list(env.leaks())
    nsroot = os.path.join(d.run_dir, "ns")
    if os.path.isdir(nsroot) and [e for e in os.listdir(nsroot) if not e.startswith(".")]:
        out.append(f"pins left: {os.listdir(nsroot)}")
    sbdir = os.path.join(d.run_dir, "sandboxes")
    if os.path.isdir(sbdir) and os.listdir(sbdir):
        out.append(f"sandbox dirs left: {os.listdir(sbdir)}")
    cache = os.path.join(d.state_dir, "cni")
    if os.path.isdir(cache) and os.listdir(cache):
        out.append(f"CNI cache left: {os.listdir(cache)}")
    ipam = os.path.join(d.root, "ipam")
    for dirpath, _, files in os.walk(ipam):
        ips = [f for f in files if f != "lock" and not f.startswith("last_reserved_ip")]
        if ips:
            out.append(f"IP reservations left: {ips}")
    links = subprocess.run(["ip", "-n", d.netns.name, "-o", "link", "show", "type", "veth"],
                           capture_output=True, text=True).stdout.strip()
    if links:
        out.append(f"veths left: {links}")
    cdir = os.path.join(d.state_dir, "containers")
    if os.path.isdir(cdir) and os.listdir(cdir):
        out.append(f"container upper dirs left: {os.listdir(cdir)}")
    procs = [p for p in procs_mentioning(d.root + "/") if p != d.pid]
    if procs:
        out.append(f"processes left: {procs}")
    return out


def node_matches_list(env):
    """Every runc container, shim, bundle and rootfs mount belongs to a listed container."""
    listed = {c.id for c in env.list()}
    cdir = os.path.join(env.d.run_dir, "c")
    bundles = set(os.listdir(cdir)) if os.path.isdir(cdir) else set()
    mounts = {m.split("/")[-2] for m in mountpoints_under(cdir)}
    shims = {b for b in bundles if procs_mentioning(os.path.join(cdir, b))}
    left = {"runc": set(runc_containers(env.d)) - listed, "bundles": bundles - listed,
            "mounts": mounts - listed, "shims": shims - listed}
    return {k: v for k, v in left.items() if v}


@pytest.fixture
def faulty(berthd_factory, net, reg):
    """faulty(fault, pull=True) -> an Env on a berthd started with BERTH_FAULT=fault;
    whatever a failing test left is swept after it."""
    made = []

    def make(fault, pull=True):
        d = berthd_factory(netns=net, env={"BERTH_FAULT": fault})
        e = Env(d, reg)
        made.append(e)
        if pull:
            e.pull("busybox")
        return e

    yield make
    for e in made:
        if not e.d.running():
            e.d.expect_clean_exit = False
            e.d.env = None
            e.d.start()
            e.c = e.d.client()
        leaks = e.cleanup()
        assert not leaks, leaks


def partial_image_files(env):
    img = os.path.join(env.d.state_dir, "image")
    return [os.path.join(dp, f) for dp, dirs, files in os.walk(img)
            for f in files + dirs if f.startswith(".tmp")]


def killed_at(env, point, fn):
    """fn() reaches the point: berthd dies by SIGKILL there and the call fails."""
    with pytest.raises(grpc.RpcError) as ei:
        fn()
    assert ei.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                               grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), \
        ei.value.details()
    d = env.d
    assert d.proc.wait(timeout=30) == -9
    d.expect_clean_exit = False
    assert f"fault point {point}: kill" in d.stderr()


def restart(env):
    """Starts berthd again without the fault, on the same dirs."""
    d = env.d
    d.check_exit()
    env.c.close()
    d.env = None
    d.start()
    env.c = d.client()
    consistent(env)


def restarted(env):
    """After a fault berthd survived: a clean restart (SIGTERM, exit 0) answers alike."""
    before = ({p.id: p.state for p in pods(env)}, {c.id: c.state for c in env.list()})
    env.c.close()
    env.d.env = None  # the fault fired: the next run goes without it
    env.d.restart()
    env.c = env.d.client()
    consistent(env)
    assert ({p.id: p.state for p in pods(env)}, {c.id: c.state for c in env.list()}) == before


def consistent(env):
    # it answers, and every listed object has a status
    for p in env.call("ListPodSandbox", env.pb.ListPodSandboxRequest()).items:
        env.call("PodSandboxStatus", env.pb.PodSandboxStatusRequest(pod_sandbox_id=p.id))
    for c in env.list():
        env.status(c.id)
    assert node_matches_list(env) == {}


def pods(env):
    return list(env.call("ListPodSandbox", env.pb.ListPodSandboxRequest()).items)


def remove_pod(env, sid):
    pb = env.pb
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))


def finish(env, again):
    """Removes everything through the RPCs, checks the node is clean and that the names
    are free: again() runs the faulted request's config once more."""
    for c in env.list():
        env.remove(c.id)
    for p in pods(env):
        remove_pod(env, p.id)
    assert node_leaks(env) == []
    again()
    for c in env.list():
        env.remove(c.id)
    for p in pods(env):
        remove_pod(env, p.id)
    assert node_leaks(env) == []


# ---- the pod: RunPodSandbox, StopPodSandbox, RemovePodSandbox ----

RUN_POD_POINTS = ["run_pod.recorded", "run_pod.pinned", "run_pod.network", "run_pod.ready",
                  "store.write.sandbox:kill:2"]


@pytest.mark.parametrize("fault", RUN_POD_POINTS)
def test_killed_in_run_pod_sandbox(faulty, fault):
    env = faulty(fault)
    pb = env.pb
    cfg = env.pod_config("p")
    req = pb.RunPodSandboxRequest(config=cfg)
    killed_at(env, fault.split(":")[0], lambda: env.call("RunPodSandbox", req))
    restart(env)
    listed = pods(env)
    if listed:
        # kubelet sees the pod (not ready unless Run got to its end) and runs the next
        # attempt; its GC stops and removes the old one
        assert len(listed) == 1
        if fault != "run_pod.ready":
            assert listed[0].state == pb.SANDBOX_NOTREADY
        req.config.metadata.attempt += 1
        sid = env.call("RunPodSandbox", req).pod_sandbox_id
        remove_pod(env, listed[0].id)
    else:
        sid = env.call("RunPodSandbox", req).pod_sandbox_id
    assert [p.id for p in pods(env)] == [sid]
    assert pods(env)[0].state == pb.SANDBOX_READY
    env.run((sid, cfg), "c", SLEEP)  # the pod works
    finish(env, lambda: env.call("RunPodSandbox", req))


POD_END_POINTS = ["stop_pod.claimed", "pod.init_stopped", "stop_pod.torn_down",
                  "remove_pod.containers", "remove_pod.stopped", "remove_pod.torn_down"]


@pytest.mark.parametrize("fault", POD_END_POINTS)
def test_killed_in_stop_or_remove_pod(faulty, fault):
    env = faulty(fault)
    pb = env.pb
    pod = env.pod("p")
    sid = pod[0]
    env.run(pod, "c", SLEEP)
    if fault.startswith("remove_pod"):
        env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        fn = lambda: env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    else:
        fn = lambda: env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    killed_at(env, fault, fn)
    restart(env)
    # kubelet's retry: stop (again) and remove
    remove_pod(env, sid)
    assert pods(env) == [] and env.list() == []
    finish(env, lambda: env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=pod[1])))


# ---- containers: CreateContainer, StartContainer, StopContainer, RemoveContainer ----

CREATE_POINTS = ["create.reserved", "create.mounted", "create.shim", "create.recorded",
                 "store.write.container"]


@pytest.mark.parametrize("fault", CREATE_POINTS)
def test_killed_in_create_container(faulty, fault):
    env = faulty(fault)
    pb = env.pb
    pod = env.pod("p")
    cfg = env.ctr_config("c", command=SLEEP)
    req = pb.CreateContainerRequest(pod_sandbox_id=pod[0], config=cfg, sandbox_config=pod[1])
    killed_at(env, fault, lambda: env.call("CreateContainer", req))
    restart(env)
    if fault == "create.shim":
        # a shim and a runc container without a record: torn down before serving
        assert "removed what a create cut short left" in env.d.stderr()
    listed = env.list()
    if listed:  # kubelet counts the listed one: the next attempt
        assert len(listed) == 1 and listed[0].state == pb.CONTAINER_CREATED
        req.config.metadata.attempt += 1
        cid = env.call("CreateContainer", req).container_id
        env.remove(listed[0].id)
    else:  # rolled back: the same request, with the same name
        cid = env.call("CreateContainer", req).container_id
    env.start(cid)
    assert env.state(cid) == pb.CONTAINER_RUNNING
    assert [c.id for c in env.list()] == [cid]
    finish(env, lambda: None)


CTR_POINTS = ["start.started", "start.recorded", "stop.killed", "remove.stopped",
              "remove.torn_down"]


@pytest.mark.parametrize("fault", CTR_POINTS)
def test_killed_in_container_calls(faulty, fault):
    env = faulty(fault)
    pb = env.pb
    pod = env.pod("p")
    cid = env.create(pod, env.ctr_config("c", command=SLEEP))
    rpc = fault.split(".")[0]
    if rpc != "start":
        env.start(cid)
    fn = {"start": lambda: env.start(cid), "stop": lambda: env.stop(cid),
          "remove": lambda: env.remove(cid)}[rpc]
    killed_at(env, fault, fn)
    restart(env)
    if fault == "start.started":
        # runc started it, the record said created: recorded as started at restart
        assert "container was started while berthd went down" in env.d.stderr()
        assert env.state(cid) == pb.CONTAINER_RUNNING
    if rpc == "start":
        # the runtime ran the start: the restarted berthd says so, and kubelet has
        # nothing to retry; before it, kubelet's retry starts it
        if env.state(cid) == pb.CONTAINER_CREATED:
            env.start(cid)
        assert env.state(cid) == pb.CONTAINER_RUNNING
        assert env.exec(cid, ["sh", "-c", "exit 0"]).exit_code == 0
    elif rpc == "stop":
        env.stop(cid)
        assert env.state(cid) == pb.CONTAINER_EXITED
    else:
        env.remove(cid)
        assert env.list() == []
    finish(env, lambda: env.run(env.pod("p2"), "c", SLEEP))


# ---- PullImage ----

PULL_POINTS = ["pull.spawned", "pull.answered", "pull.recorded"]


@pytest.mark.parametrize("fault", PULL_POINTS)
def test_killed_in_pull_image(faulty, fault):
    env = faulty(fault, pull=False)
    pb = env.pb
    killed_at(env, fault, lambda: env.pull("busybox"))
    restart(env)
    env.pull("busybox")
    images = env.call("ListImages", pb.ListImagesRequest()).images
    assert [i.repo_tags for i in images] == [[env.image("busybox")]]
    # what the dead pull left is gone: the helper stopped with berthd (and cancelled
    # its pull), no partial blob or layer is left
    poll(lambda: not procs_mentioning(os.path.join(env.d.root, "libexec", "berth-pull")),
         30, "the orphaned berth-pull to stop")
    assert partial_image_files(env) == []
    env.run(env.pod("p"), "c", SLEEP)
    finish(env, lambda: None)


def test_helper_killed_mid_blob(faulty):
    """berth-pull (which inherits BERTH_FAULT) dies with a blob half written."""
    env = faulty("pull.blob", pull=False)
    pb = env.pb
    with pytest.raises(grpc.RpcError) as ei:
        env.pull("busybox")
    assert ei.value.code() != grpc.StatusCode.UNKNOWN, ei.value.details()
    assert "signal 9" in ei.value.details() or "killed" in ei.value.details(), \
        ei.value.details()
    assert env.d.running()
    assert list(env.call("ListImages", pb.ListImagesRequest()).images) == []
    # the helper's environment is berthd's: every new helper dies the same way, so the
    # retry runs on a berthd without the fault
    env.d.stop()
    restart(env)
    env.pull("busybox")
    assert partial_image_files(env) == []
    env.run(env.pod("p"), "c", SLEEP)
    finish(env, lambda: None)


# ---- the state dir: ENOSPC and EIO ----

DISK = [("store.write.sandbox:enospc", "RunPodSandbox", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("store.write.sandbox:eio:2", "RunPodSandbox", None),
        ("store.write.container:enospc", "CreateContainer", grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("store.write.started:eio", "StartContainer", None),
        ("store.write.image:enospc", "PullImage", grpc.StatusCode.RESOURCE_EXHAUSTED)]


@pytest.mark.parametrize("fault,rpc,code", DISK)
def test_state_dir_write_fails(faulty, fault, rpc, code):
    env = faulty(fault, pull=rpc != "PullImage")
    pb = env.pb

    def step(name, fn):
        if name != rpc:
            return fn()
        with pytest.raises(grpc.RpcError) as ei:
            fn()
        e = ei.value
        if code is not None:
            assert e.code() == code, e.details()
        assert e.code() != grpc.StatusCode.UNKNOWN, e.details()
        errname = "no space left on device" if "enospc" in fault else "input/output error"
        assert errname in e.details(), e.details()
        # refused and rolled back (or, for Start, recorded as failed): the retry of the
        # same request succeeds on the same berthd
        assert node_matches_list(env) == {}
        if name == "StartContainer":
            # started, then not recorded: killed and recorded as a failed start, which
            # kubelet replaces with the next attempt
            st = env.status(cid).status
            assert st.state == pb.CONTAINER_EXITED and st.reason == "StartError", st
            return None
        return fn()

    step("PullImage", lambda: env.pull("busybox"))
    cfg = env.pod_config("p")
    sid = step("RunPodSandbox", lambda: env.call(
        "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id)
    ccfg = env.ctr_config("c", command=SLEEP)
    cid = step("CreateContainer", lambda: env.create((sid, cfg), ccfg))
    step("StartContainer", lambda: env.start(cid))
    assert env.d.running()
    restarted(env)
    finish(env, lambda: None)


# ---- CNI plugins failing on ADD and DEL ----

FAILING_PLUGIN = """#!/bin/sh
# a CNI plugin failing its first {times} {cmd} calls (CNI error 11, try again later),
# then passing prevResult on as a chained plugin does
input=$(cat)
n=$(cat "{root}/failed.{cmd}" 2>/dev/null || echo 0)
if [ "$CNI_COMMAND" = {cmd} ] && [ "$n" -lt {times} ]; then
  echo $((n + 1)) > "{root}/failed.{cmd}"
  echo '{{"cniVersion":"1.0.0","code":11,"msg":"plugin {cmd} failed on purpose"}}'
  exit 1
fi
if [ "$CNI_COMMAND" = ADD ]; then
  printf '%s' "$input" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["prevResult"]))'
fi
exit 0
"""


@pytest.mark.parametrize("cmd,times", [("ADD", 1), ("DEL", 1), ("DEL", 3)])
def test_cni_plugin_fails(env, cmd, times):
    """ADD fails the RunPodSandbox (rolled back); berth tries DEL three times, so one
    failure is absorbed and three fail the StopPodSandbox, which kubelet retries."""
    pb = env.pb
    d = env.d
    bindir = os.path.join(d.root, "bin")
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, "flaky")
    with open(path, "w") as fh:
        fh.write(FAILING_PLUGIN.format(cmd=cmd, times=times, root=d.root))
    os.chmod(path, 0o755)
    env.c.close()
    d.stop()
    d.check_exit()
    d.config["cni"]["bin_dirs"] = [bindir, "/usr/lib/cni"]
    with open(d.config_path, "w") as fh:
        json.dump(d.config, fh)
    conf = bridge_conflist(d)
    conf["plugins"].append({"type": "flaky"})
    with open(os.path.join(d.cni_dir, "10-test.conflist"), "w") as fh:
        json.dump(conf, fh)
    d.start()
    env.c = d.client()
    cfg = env.pod_config("p")
    req = pb.RunPodSandboxRequest(config=cfg)
    if cmd == "ADD":
        with pytest.raises(grpc.RpcError) as ei:
            env.call("RunPodSandbox", req)
        # CNI error 11 is EAGAIN (docs/limits.md)
        assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, ei.value.details()
        assert "plugin ADD failed on purpose" in ei.value.details()
        assert pods(env) == [] and node_leaks(env) == []
        sid = env.call("RunPodSandbox", req).pod_sandbox_id
        env.run((sid, cfg), "c", SLEEP)
        restarted(env)
        finish(env, lambda: None)
    else:
        sid = env.call("RunPodSandbox", req).pod_sandbox_id
        env.run((sid, cfg), "c", SLEEP)
        stop = lambda: env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
        if times < 3:
            stop()
        else:
            with pytest.raises(grpc.RpcError) as ei:
                stop()
            assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, ei.value.details()
            assert "plugin DEL failed on purpose" in ei.value.details()
        restarted(env)
        # kubelet retries the stop, then removes
        remove_pod(env, sid)
        assert pods(env) == [] and env.list() == []
        finish(env, lambda: env.call("RunPodSandbox", req))


# ---- the OCI runtime failing or hanging; a shim killed ----

FLAKY_RUNC = """#!/bin/sh
# runc, except that the first `{cmd}` {how}
for a in "$@"; do
  if [ "$a" = "{cmd}" ] && [ ! -e "{root}/done.{cmd}" ]; then
    : > "{root}/done.{cmd}"
    {action}
  fi
done
exec {runc} "$@"
"""
ACTIONS = {"fails": 'echo "runtime {cmd} failed on purpose" >&2; exit 1',
           "hangs": "exec sleep 3600"}


@pytest.fixture
def flaky_runtime(berthd_factory, net, reg):
    """flaky_runtime(cmd, how) -> an Env whose runtime is runc behind a wrapper whose
    first `cmd` fails or hangs (timeout_ms 3000)."""
    made = []

    def make(cmd, how):
        d = berthd_factory(netns=net, start=False)
        path = os.path.join(d.root, "flaky-runc")
        with open(path, "w") as fh:
            fh.write(FLAKY_RUNC.format(cmd=cmd, how=how, root=d.root, runc=RUNC,
                                       action=ACTIONS[how].format(cmd=cmd)))
        os.chmod(path, 0o755)
        d.config["runtimes"] = {"runc": {"path": path, "timeout_ms": 3000}}
        with open(d.config_path, "w") as fh:
            json.dump(d.config, fh)
        d.start()
        e = Env(d, reg)
        made.append(e)
        e.pull("busybox")
        return e

    yield make
    for e in made:
        leaks = e.cleanup()
        assert not leaks, leaks


@pytest.mark.parametrize("how", ["fails", "hangs"])
def test_runtime_start_fails_or_hangs(flaky_runtime, how):
    env = flaky_runtime("start", how)
    pb = env.pb
    pod = env.pod("p")
    cfg = env.ctr_config("c", command=SLEEP)
    cid = env.create(pod, cfg)
    with pytest.raises(grpc.RpcError) as ei:
        env.start(cid)
    e = ei.value
    assert e.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK), e.details()
    if how == "fails":
        assert "runtime start failed on purpose" in e.details(), e.details()
    else:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.details()
        assert "3000 ms" in e.details() or "timed out" in e.details(), e.details()
    # recorded as exited: a failed start, or (after a hang, when the shim's record of the
    # kill berth sent is committed first) the init's end; nothing runs outside berth's
    # answers
    st = env.status(cid).status
    assert st.state == pb.CONTAINER_EXITED, st
    assert st.reason == "StartError" or (how == "hangs" and st.reason == "Error"), st
    assert node_matches_list(env) == {}
    assert not procs_mentioning("sleep 3600")
    restarted(env)
    # kubelet's next attempt runs
    env.remove(cid)
    cfg.metadata.attempt = 1
    cid = env.create(pod, cfg)
    env.start(cid)
    assert env.state(cid) == pb.CONTAINER_RUNNING
    finish(env, lambda: None)


def test_runtime_delete_fails(flaky_runtime):
    env = flaky_runtime("delete", "fails")
    pod = env.pod("p")
    cid = env.run(pod, "c", SLEEP)
    with pytest.raises(grpc.RpcError) as ei:
        env.remove(cid)
    assert ei.value.code() != grpc.StatusCode.UNKNOWN, ei.value.details()
    assert "runtime delete failed on purpose" in ei.value.details(), ei.value.details()
    assert [c.id for c in env.list()] == [cid]  # still listed: kubelet retries
    restarted(env)
    env.remove(cid)
    assert env.list() == []
    finish(env, lambda: env.run(env.pod("p"), "c", SLEEP))


def test_shim_killed(env):
    pb = env.pb
    pod = env.pod("p")
    cid = env.run(pod, "c", SLEEP)
    pid = env.info(cid)["shimPid"]
    assert pid > 0
    os.kill(pid, 9)
    poll(lambda: not os.path.exists(f"/proc/{pid}/stat") or
         open(f"/proc/{pid}/stat").read().split()[2] == "Z", 10, "the shim to die")
    # berth answers for the container; Stop and Remove end it and leave nothing
    env.status(cid)
    restarted(env)
    env.stop(cid)
    assert env.state(cid) == pb.CONTAINER_EXITED
    env.remove(cid)
    assert env.list() == []
    finish(env, lambda: env.run(env.pod("p"), "c", SLEEP))


# ---- a registry closing the connection mid-blob ----

CUTTING_PROXY = r'''
import os, socket, sys, threading
lport, rport, ctl = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
CUT_AFTER = 4096  # bytes of a blob response passed on before the close

def pipe(src, dst, conn, upstream):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if upstream:
                if b"/blobs/sha256:" in data:
                    conn["blob"], conn["sent"] = True, 0
            elif conn["blob"] and not os.path.exists(os.path.join(ctl, "pass")):
                room = CUT_AFTER - conn["sent"]
                if len(data) >= room:
                    dst.sendall(data[:room])
                    open(os.path.join(ctl, "cut"), "a").write("x")
                    break
                conn["sent"] += len(data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(64)
open(os.path.join(ctl, "ready"), "w").close()
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", rport))
    conn = {"blob": False, "sent": 0}
    threading.Thread(target=pipe, args=(c, u, conn, True), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, conn, False), daemon=True).start()
'''


def test_registry_closes_mid_blob(berthd_factory, net, reg, tmp_path):
    from registry import free_port
    script = tmp_path / "proxy.py"
    script.write_text(CUTTING_PROXY)
    port = free_port()
    proxy = subprocess.Popen(["nsenter", f"--net={net.path}", "python3", str(script),
                              str(port), str(reg.port), str(tmp_path)])
    try:
        poll(lambda: (tmp_path / "ready").exists(), 20, "the cutting proxy")
        d = berthd_factory(netns=net)
        env = Env(d, reg)
        pb = env.pb
        ref = f"127.0.0.1:{port}/test/busybox:1"
        req = pb.PullImageRequest(image=pb.ImageSpec(image=ref))
        with pytest.raises(grpc.RpcError) as ei:
            env.call("PullImage", req, timeout=120)
        e = ei.value
        assert (tmp_path / "cut").exists()
        # the connection reset: worth kubelet's retry
        assert e.code() == grpc.StatusCode.UNAVAILABLE, e.details()
        assert "blobs/sha256:" in e.details(), e.details()
        assert d.running()
        assert list(env.call("ListImages", pb.ListImagesRequest()).images) == []
        assert partial_image_files(env) == []
        restarted(env)
        # the registry behaves again: kubelet's retry pulls it
        (tmp_path / "pass").touch()
        env.call("PullImage", req, timeout=120)
        images = env.call("ListImages", pb.ListImagesRequest()).images
        assert [list(i.repo_tags) for i in images] == [[ref]]
        pod = env.pod("p")
        cid = env.create(pod, env.ctr_config("c", command=SLEEP, image="busybox").__class__(
            metadata=pb.ContainerMetadata(name="c"), image=pb.ImageSpec(image=ref),
            command=SLEEP, log_path="c/0.log"))
        env.start(cid)
        assert env.state(cid) == pb.CONTAINER_RUNNING
        finish(env, lambda: None)
        assert not env.cleanup()
    finally:
        proxy.kill()
        proxy.wait()
