# SPDX-License-Identifier: Apache-2.0
"""Containers (issue 6): the full lifecycle on real runc, berth-shim and overlay rootfs, in
real pods, from images pulled from a docker-registry in berthd's network namespace.

Every test ends by removing its containers and pods through the RPCs and then checking
that nothing is left: no shim process, no mount under the berthd's root, no runc
container, no container cgroup, no bundle (ctrutil.Env.cleanup)."""
import os
import socket
import signal
import time

import grpc
import pytest

from conftest import poll
from ctrutil import procs_mentioning, env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401



# The test image has busybox and /bin/sh only; its sh runs applets itself, and `exec`
# re-executes busybox as the applet (so the command line names it).
SLEEP = ["sh", "-c", "exec sleep 1000"]


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_lifecycle_with_state_checks(env):
    pb = env.pb
    pod = env.pod()
    cid = env.create(pod, env.ctr_config("life", command=SLEEP))
    st = env.status(cid).status
    assert st.state == pb.CONTAINER_CREATED
    assert st.created_at > 0 and st.started_at == 0 and st.finished_at == 0
    assert st.image.image == env.image("busybox")
    assert st.image_ref.startswith("sha256:") and st.image_id == st.image_ref
    assert st.labels == {"app": "life"} and st.annotations == {"note": "x"}
    assert st.log_path == os.path.join(env.logdir, "pod", "life/0.log")
    assert [c.id for c in env.list(pod_sandbox_id=pod[0])] == [cid]

    env.start(cid)
    st = env.status(cid).status
    assert st.state == pb.CONTAINER_RUNNING and st.started_at >= st.created_at
    info = env.info(cid)
    assert alive(info["pid"])
    assert info["runtimeSpec"]["process"]["args"] == SLEEP
    assert os.path.isdir(info["bundle"])
    assert [c.id for c in env.list(state=pb.ContainerStateValue(state=pb.CONTAINER_RUNNING))] \
        == [cid]
    assert env.list(state=pb.ContainerStateValue(state=pb.CONTAINER_EXITED)) == []
    assert [c.id for c in env.list(label_selector={"app": "life"})] == [cid]
    assert [c.id for c in env.list(id=cid[:12])] == [cid]

    env.stop(cid, timeout=0)
    st = env.status(cid).status
    assert st.state == pb.CONTAINER_EXITED
    assert st.exit_code == 137 and st.reason == "Error"
    assert st.finished_at >= st.started_at
    assert not alive(info["pid"])
    env.stop(cid, timeout=0)  # idempotent

    env.remove(cid)
    assert env.list() == []
    assert not os.path.exists(info["bundle"])
    e = rpc_error(env.status, cid)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    env.remove(cid)  # unknown ID: success
    env.stop(cid, timeout=10)  # CRI: so is a stop of an unknown ID
    env.stop("f" * 64, timeout=0)


def test_exit_codes_and_reasons(env):
    pod = env.pod()
    ok = env.run(pod, "ok", ["sh", "-c", "exit 0"])
    bad = env.run(pod, "bad", ["sh", "-c", "exit 3"])
    st = env.wait_exited(ok)
    assert (st.exit_code, st.reason) == (0, "Completed")
    st = env.wait_exited(bad)
    assert (st.exit_code, st.reason) == (3, "Error")
    assert st.finished_at >= st.started_at > 0


def test_oom_killed_under_memory_limit(env):
    pb = env.pb
    pod = env.pod()
    res = pb.LinuxContainerResources(memory_limit_in_bytes=32 << 20)
    cid = env.run(pod, "oom", ["sh", "-c", "a=x; while :; do a=$a$a; done"],
                  linux=pb.LinuxContainerConfig(resources=res))
    st = env.wait_exited(cid, timeout=60)
    assert st.reason == "OOMKilled", (st.exit_code, st.reason)
    assert st.exit_code == 137
    assert env.status(cid).status.resources.linux.memory_limit_in_bytes == 32 << 20


def test_log_file_line_by_line(env):
    pod = env.pod()
    script = ("echo one; echo two >&2; "
              "head -c 20000 /dev/zero | tr '\\0' a; echo; "
              "printf tail")
    cid = env.run(pod, "logs", ["sh", "-c", script])
    assert env.wait_exited(cid).exit_code == 0
    recs = env.log_records(cid)
    out = [r for r in recs if r[0] == "stdout"]
    err = [r for r in recs if r[0] == "stderr"]
    assert err == [("stderr", "F", b"two")]
    assert out[0] == ("stdout", "F", b"one")
    # the 20000-byte line: one 16 KiB P record, then the rest as F
    assert out[1] == ("stdout", "P", b"a" * 16384)
    assert out[2] == ("stdout", "F", b"a" * (20000 - 16384))
    # output the stream ended without a newline is a partial record (kubelet adds none)
    assert out[3] == ("stdout", "P", b"tail")
    assert len(out) == 4


def test_unterminated_output_is_partial(env):
    """F only where the container ended the line; the end of the stream makes a P record,
    so kubelet's reader shows exactly the bytes written (containerd and conmon agree)."""
    pod = env.pod()
    cid = env.run(pod, "nonl", ["sh", "-c", "printf abcd"])
    assert env.wait_exited(cid).exit_code == 0
    assert env.log_records(cid) == [("stdout", "P", b"abcd")]
    with open(env.status(cid).status.log_path, "rb") as f:
        assert f.read().split(b"\n")[-2].endswith(b" stdout P abcd")
    cid = env.run(pod, "nl", ["sh", "-c", "printf 'abcd\\n'"])
    assert env.wait_exited(cid).exit_code == 0
    assert env.log_records(cid) == [("stdout", "F", b"abcd")]
    cid = env.run(pod, "both", ["sh", "-c", "printf out; printf err >&2"])
    assert env.wait_exited(cid).exit_code == 0
    recs = env.log_records(cid)
    assert sorted(recs) == [("stderr", "P", b"err"), ("stdout", "P", b"out")]


def test_host_network_container_has_the_node_hostname(env):
    pod = env.pod("hostnet", host_network=True)
    cid = env.run(pod, "hn", ["sh", "-c", "read h < /proc/sys/kernel/hostname; echo $h"])
    assert env.wait_exited(cid).exit_code == 0
    assert env.log_records(cid) == [("stdout", "F", socket.gethostname().encode())]


def test_reopen_log_after_rename(env):
    pod = env.pod()
    cid = env.run(pod, "tick", ["sh", "-c", "while :; do echo tick; sleep 0.05; done"])
    path = env.status(cid).status.log_path
    poll(lambda: os.path.exists(path) and os.path.getsize(path) > 0, 10, "first output")
    os.rename(path, path + ".1")
    env.call("ReopenContainerLog", env.pb.ReopenContainerLogRequest(container_id=cid))
    poll(lambda: os.path.exists(path) and b"stdout F tick" in open(path, "rb").read(), 10,
         "output in the reopened log")
    env.stop(cid, timeout=0)
    e = rpc_error(env.call, "ReopenContainerLog",
                  env.pb.ReopenContainerLogRequest(container_id=cid))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not running" in e.details()


def test_exec_sync_timeout_reaps_before_returning(env):
    """The process killed at an ExecSync timeout is reaped before the call returns: the
    container does not see it, not even as a zombie (critest checks with pgrep at once)."""
    pod = env.pod()
    cid = env.run(pod, "reap", SLEEP)
    e = rpc_error(env.exec, cid, ["sh", "-c", "exec sleep 4324"], timeout=1)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    stats = env.exec(cid, ["sh", "-c", "cat /proc/[0-9]*/stat"]).stdout.decode().splitlines()
    # "<pid> (<comm>) <state> ...": pid 1 is the container's sleep, the rest is this cat
    states = [l.rsplit(")", 1)[1].split()[0] for l in stats]
    assert "Z" not in states, stats
    assert len(stats) == 2, stats


def test_exec_sync(env):
    pod = env.pod()
    cid = env.run(pod, "exec", SLEEP)
    r = env.exec(cid, ["sh", "-c", "echo out; echo err >&2; exit 5"])
    assert (r.stdout, r.stderr, r.exit_code) == (b"out\n", b"err\n", 5)
    r = env.exec(cid, ["sh", "-c", "cat /etc/motd"])
    assert r.stdout == b"hello\n" and r.exit_code == 0
    # a big output comes back whole
    r = env.exec(cid, ["sh", "-c", "/bin/busybox head -c 3000000 /dev/zero"])
    assert len(r.stdout) == 3000000
    # timeout: a clear error, and the process (and its children) killed
    e = rpc_error(env.exec, cid, ["sh", "-c", "(exec sleep 4321) & exec sleep 4322"], timeout=1)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "timed out" in e.details()
    poll(lambda: not procs_mentioning("sleep\x004321") and not procs_mentioning("sleep\x004322"),
         10, "exec'd processes to be gone")
    # a backgrounded child holding the pipes does not hold the call
    r = env.exec(cid, ["sh", "-c", "(exec sleep 4323) & echo bg"], timeout=20)
    assert r.stdout == b"bg\n"
    env.stop(cid, timeout=0)
    e = rpc_error(env.exec, cid, ["sh", "-c", "true"])
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_env_user_workdir_command_args(env):
    pb = env.pb
    pod = env.pod()
    script = 'echo "$(/bin/busybox id -u):$(/bin/busybox id -g) $(pwd) $FOO $BERTH_TEST $*"'
    sc = pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=1234))
    cid = env.run(pod, "envs", ["sh", "-c", script, "argv0"], args=["a1", "a2"],
                  envs=[pb.KeyValue(key="FOO", value=b"bar")], working_dir="/tmp",
                  linux=pb.LinuxContainerConfig(security_context=sc))
    assert env.wait_exited(cid).exit_code == 0
    assert env.log_records(cid) == [("stdout", "F", b"1234:0 /tmp bar 1 a1 a2")]
    # image defaults: Cmd ["sh"] replaced by args, WorkingDir /opt, User 0:0
    cid2 = env.run(pod, "defaults", None, args=["sh", "-c", "echo $(/bin/busybox id -u) $(pwd)"])
    assert env.wait_exited(cid2).exit_code == 0
    assert env.log_records(cid2) == [("stdout", "F", b"0 /opt")]


def test_two_containers_share_net_and_ipc(env):
    pod = env.pod()
    a = env.run(pod, "a", SLEEP)
    b = env.run(pod, "b", SLEEP)
    for ns in ("net", "ipc"):
        cmd = ["readlink", f"/proc/self/ns/{ns}"]
        ra, rb = env.exec(a, ["sh", "-c", " ".join(cmd)]), env.exec(b, ["sh", "-c", " ".join(cmd)])
        assert ra.exit_code == 0 and ra.stdout.startswith(ns.encode())
        assert ra.stdout == rb.stdout
    pid = env.info(a)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    ip = env.call("PodSandboxStatus", env.pb.PodSandboxStatusRequest(
        pod_sandbox_id=pod[0])).status.network.ip
    r = env.exec(b, ["sh", "-c", "/bin/busybox ip -4 addr show eth0"])
    assert ip and ip in r.stdout.decode()


def test_stop_signal_and_timeout_honoured(env):
    pod = env.pod()
    # the image's stop signal (SIGUSR1) reaches a trap: a graceful exit
    g = env.run(pod, "graceful", ["sh", "-c", "trap 'exit 7' USR1; echo ready; "
                                  "while :; do sleep 0.05; done"])
    wait_ready(env, g)
    env.stop(g, timeout=30)
    assert env.status(g).status.exit_code == 7
    # PID 1 without a handler ignores it: SIGKILL after the timeout, not before
    s = env.run(pod, "stubborn", SLEEP)
    t0 = time.monotonic()
    env.stop(s, timeout=2)
    assert time.monotonic() - t0 >= 2
    st = env.status(s).status
    assert (st.exit_code, st.reason) == (137, "Error")


def wait_ready(env, cid):
    poll(lambda: any(t == b"ready" for _, _, t in env.log_records(cid)), 10,
         "the container's trap to be set")


def test_real_time_stop_signals(env):
    """The CRI's real-time stop signals (SIGRTMINPLUSn, SIGRTMAXMINUSn) are sent
    as the signal they name, not refused or replaced by SIGTERM."""
    pb = env.pb
    pod = env.pod()
    rtmin, rtmax = signal.SIGRTMIN, signal.SIGRTMAX
    cases = [(pb.SIGNAL_SIGRTMINPLUS3, rtmin + 3, 3), (pb.SIGNAL_SIGRTMAXMINUS1, rtmax - 1, 5),
             (pb.SIGNAL_SIGRTMIN, rtmin, 6)]
    for enum, num, code in cases:
        name = f"rt{num}"
        cid = env.run(pod, name, ["sh", "-c", f"trap 'exit {code}' {int(num)}; echo ready; "
                                  "while :; do sleep 0.05; done"], stop_signal=enum)
        wait_ready(env, cid)
        env.stop(cid, timeout=30)
        st = env.status(cid).status
        assert st.exit_code == code, (name, st.exit_code, st.reason)


def test_remove_running_container(env):
    pod = env.pod()
    cid = env.run(pod, "rm", SLEEP)
    info = env.info(cid)
    env.remove(cid)
    assert not alive(info["pid"])
    # the shim exits right after recording the exit
    poll(lambda: not alive(info["shimPid"]), 10, "the shim to exit")
    assert env.list() == []


def test_bad_requests_leave_nothing(env):
    pb = env.pb
    pod = env.pod()
    e = rpc_error(env.create, ("f" * 64, pod[1]), env.ctr_config("x", command=["sh", "-c", "true"]))
    assert e.code() == grpc.StatusCode.NOT_FOUND and "pod sandbox" in e.details()
    cfg = env.ctr_config("x", command=["sh", "-c", "true"])
    cfg.image.image = env.image("nothere")
    e = rpc_error(env.create, pod, cfg)
    assert e.code() == grpc.StatusCode.NOT_FOUND
    assert f"image '{env.image('nothere')}' not found" in e.details()
    cfg = env.ctr_config("x", command=["sh", "-c", "true"])
    cfg.mounts.append(pb.Mount(host_path="/nonexistent/berth-src", container_path="/data"))
    e = rpc_error(env.create, pod, cfg)
    assert e.code() == grpc.StatusCode.NOT_FOUND and "/nonexistent/berth-src" in e.details()
    env.pull("concurrent")  # an image without Entrypoint or Cmd
    e = rpc_error(env.create, pod, env.ctr_config("x", image="concurrent"))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "no command" in e.details()
    assert env.list() == []
    assert env.leaks(pods=False) == []
    cid = env.create(pod, env.ctr_config("dup", command=["sh", "-c", "true"]))
    e = rpc_error(env.create, pod, env.ctr_config("dup", command=["sh", "-c", "true"]))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS and cid in e.details()
    assert [c.id for c in env.list()] == [cid]
    e = rpc_error(env.start, "f" * 64)
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_exit_recorded_across_daemon_restart(env):
    pod = env.pod()
    done = env.run(pod, "done", ["sh", "-c", "read x; exit 4"], stdin=True)
    live = env.run(pod, "live", SLEEP)
    env.d.kill()
    # the container exits while berthd is down: its shim records it
    pid = None
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[:3] == \
                        [b"sh", b"-c", b"read x; exit 4"]:
                    pid = int(p)
            except OSError:
                pass
    assert pid
    os.kill(pid, signal.SIGKILL)
    poll(lambda: os.path.exists(os.path.join(env.d.run_dir, "exits", done)), 10,
         "the exit record")
    # a fresh channel: the old one's connection died with the killed berthd
    env.c.close()
    env.d.start()
    env.c = env.d.client()
    st = env.status(done).status
    assert st.state == env.pb.CONTAINER_EXITED and st.exit_code == 137
    assert env.state(live) == env.pb.CONTAINER_RUNNING
    # the monitor of the new berthd sees the live one's exit
    env.stop(live, timeout=0)
    assert env.state(live) == env.pb.CONTAINER_EXITED


def test_pod_stop_and_remove_take_their_containers(env):
    pb = env.pb
    pod = env.pod()
    other = env.pod("other")
    a = env.run(pod, "a", SLEEP)
    b = env.create(pod, env.ctr_config("b", command=SLEEP))  # created, never started
    keep = env.run(other, "keep", SLEEP)
    infos = [env.info(a), env.info(b)]
    pid = infos[0]["pid"]
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod[0]))
    assert env.state(a) == pb.CONTAINER_EXITED and not alive(pid)
    assert env.state(b) == pb.CONTAINER_EXITED
    assert env.state(keep) == pb.CONTAINER_RUNNING
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod[0]))
    assert [c.id for c in env.list()] == [keep]
    for i in infos:
        assert not os.path.exists(i["bundle"])
        poll(lambda: not alive(i["shimPid"]), 10, "the shim to exit")
    # a container can't be made in a stopped or removed pod
    e = rpc_error(env.create, pod, env.ctr_config("late", command=SLEEP))
    assert e.code() == grpc.StatusCode.NOT_FOUND


def cgroup_value(cg, v1, v2):
    """The first line of a cgroup file: v1 (controller/file) if that hierarchy is
    mounted, else the v2 file of the unified hierarchy."""
    p1 = f"/sys/fs/cgroup/{v1[0]}/{cg}/{v1[1]}"
    path = p1 if os.path.exists(p1) else f"/sys/fs/cgroup/{cg}/{v2}"
    with open(path) as f:
        return f.read().split("\n")[0]


def test_update_container_resources_merges(env):
    pb = env.pb
    pod = env.pod()
    res = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512)
    cid = env.run(pod, "upd", SLEEP, linux=pb.LinuxContainerConfig(resources=res))
    cg = env.info(cid)["cgroupsPath"].lstrip("/")

    def mem():
        v = cgroup_value(cg, ("memory", "memory.limit_in_bytes"), "memory.max")
        return int(v)

    def quota():
        v1 = f"/sys/fs/cgroup/cpu/{cg}/cpu.cfs_quota_us"
        if os.path.exists(v1):
            return int(open(v1).read())
        return int(cgroup_value(cg, ("cpu", "-"), "cpu.max").split()[0])

    def update(**kw):
        env.call("UpdateContainerResources", pb.UpdateContainerResourcesRequest(
            container_id=cid, linux=pb.LinuxContainerResources(**kw)))

    def stored():
        return env.status(cid).status.resources.linux

    assert mem() == 64 << 20
    # only cpu quota/period: the memory limit and cpu shares stay
    update(cpu_quota=50000, cpu_period=100000)
    assert mem() == 64 << 20
    assert quota() == 50000
    shares = f"/sys/fs/cgroup/cpu/{cg}/cpu.shares"
    if os.path.exists(shares):
        assert int(open(shares).read()) == 512
    st = stored()
    assert (st.memory_limit_in_bytes, st.cpu_shares, st.cpu_quota, st.cpu_period) == \
        (64 << 20, 512, 50000, 100000)
    # then memory only: the cpu settings stay
    update(memory_limit_in_bytes=96 << 20)
    assert mem() == 96 << 20
    assert quota() == 50000
    st = stored()
    assert (st.memory_limit_in_bytes, st.cpu_shares, st.cpu_quota, st.cpu_period) == \
        (96 << 20, 512, 50000, 100000)
    # exited: as containerd, only the record changes (there is no cgroup to update)
    env.stop(cid, timeout=0)
    update(cpu_shares=1024)
    st = stored()
    assert (st.memory_limit_in_bytes, st.cpu_shares) == (96 << 20, 1024)
    e = rpc_error(env.call, "UpdateContainerResources", pb.UpdateContainerResourcesRequest(
        container_id=cid, linux=pb.LinuxContainerResources(cpu_shares=-1)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    env.remove(cid)
    e = rpc_error(update, cpu_shares=1024)
    assert e.code() == grpc.StatusCode.NOT_FOUND


def test_shared_pid_namespace_of_pod(env):
    pb = env.pb
    pod = env.pod("pidpod", pid=pb.POD)
    env.run(pod, "a", ["sh", "-c", "exec sleep 1001"])
    b = env.run(pod, "b", SLEEP)
    r = env.exec(b, ["sh", "-c", "ps -o pid,args"])
    lines = r.stdout.decode().splitlines()
    assert any("sleep 1001" in l for l in lines), lines
    # PID 1 is the pod's init, not a container's process
    assert not any(l.split()[0] == "1" and "sleep" in l for l in lines[1:]), lines


def test_host_pid_and_ipc_namespaces(env):
    """NamespaceMode NODE for PID and IPC: the container shares berthd's (the node's)
    PID and IPC namespaces, and a pod-mode container does not."""
    pb = env.pb
    host = env.pod("hostns", pid=pb.NODE, ipc=pb.NODE)
    own = env.pod("ownns")
    h = env.run(host, "h", SLEEP)
    o = env.run(own, "o", SLEEP)
    node = {k: os.readlink(f"/proc/{env.d.pid}/ns/{k}") for k in ("pid", "ipc")}
    for k in ("pid", "ipc"):
        seen = env.exec(h, ["sh", "-c", f"readlink /proc/self/ns/{k}"]).stdout.decode().strip()
        assert seen == node[k], (k, seen, node[k])
        seen = env.exec(o, ["sh", "-c", f"readlink /proc/self/ns/{k}"]).stdout.decode().strip()
        assert seen != node[k], (k, seen)
    # in the node's PID namespace the container sees berthd itself
    ps = env.exec(h, ["sh", "-c", "ps -o pid,args"]).stdout.decode()
    assert any(l.split()[0] == str(env.d.pid) for l in ps.splitlines()[1:]), ps


def test_tty_container_logs_through_the_pty(env):
    pod = env.pod()
    cid = env.run(pod, "tty", ["sh", "-c", "echo hi; echo err >&2; test -t 1"], tty=True)
    st = env.wait_exited(cid)
    assert st.exit_code == 0  # stdout is a terminal
    # a pty merges the streams and ends lines with \r\n
    assert env.log_records(cid) == [("stdout", "F", b"hi\r"), ("stdout", "F", b"err\r")]


def test_image_in_use_is_not_removed(env):
    """RemoveImage refuses an image a container was created from (its layers are the
    container's rootfs) and removes it, layers included, once the container is gone."""
    pb = env.pb
    ref = env.image("busybox")
    image_id = env.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref))).image.id
    layers = os.path.join(env.d.state_dir, "image", "layers")
    unpacked = [n for n in os.listdir(layers) if not n.startswith(".")]
    assert unpacked, "the pulled image has unpacked layers"
    pod = env.pod()
    cid = env.run(pod, "user", SLEEP)
    e = rpc_error(env.call, "RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert cid[:12] in e.details()
    st = env.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image_id)))
    assert st.image.id == image_id
    assert env.exec(cid, ["sh", "-c", "echo still-here"]).stdout == b"still-here\n"

    env.stop(cid, timeout=0)
    env.remove(cid)
    env.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    st = env.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=image_id)))
    assert not st.HasField("image")
    assert [n for n in os.listdir(layers) if not n.startswith(".")] == []



def test_exit_before_start_is_recorded(env):
    """The container's init (waiting in `runc create` state for StartContainer) is killed
    from outside: its shim's exit record reaches the monitor, ContainerStatus says EXITED
    with the signal's exit code, StartContainer fails cleanly, and Remove leaves nothing."""
    pb = env.pb
    pod = env.pod()
    cid = env.create(pod, env.ctr_config("early", command=SLEEP))
    info = env.info(cid)
    os.kill(info["pid"], signal.SIGKILL)
    # nothing but the monitor records it: no Stop, no restart
    poll(lambda: env.state(cid) == pb.CONTAINER_EXITED, 5, "the exit to be recorded")
    st = env.status(cid).status
    assert (st.exit_code, st.reason, st.started_at) == (137, "Error", 0)
    e = rpc_error(env.start, cid)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert "exited before it was started (exit code 137" in e.details()
    st = env.status(cid).status
    assert (st.state, st.exit_code, st.reason) == (pb.CONTAINER_EXITED, 137, "Error")
    poll(lambda: not alive(info["shimPid"]), 10, "the shim to exit")

    # killed right before StartContainer: whichever of the monitor and Start sees the
    # exit first, Start fails and the exit stays as it happened (not a StartError)
    cid2 = env.create(pod, env.ctr_config("early2", command=SLEEP))
    info2 = env.info(cid2)
    os.kill(info2["pid"], signal.SIGKILL)
    e = rpc_error(env.start, cid2)
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert "exit code 137" in e.details()
    st = env.status(cid2).status
    assert (st.state, st.exit_code, st.reason) == (pb.CONTAINER_EXITED, 137, "Error")

    env.remove(cid)
    env.remove(cid2)
    assert env.list() == []
    for i in (info, info2):
        assert not os.path.exists(i["bundle"])
    assert not os.listdir(os.path.join(env.d.run_dir, "exits"))
    assert env.leaks(pods=False) == []
