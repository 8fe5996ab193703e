# SPDX-License-Identifier: Apache-2.0
"""berthd foundation: the CRI gRPC server answers, survives bad input and
shuts down cleanly (issue 2)."""
import concurrent.futures
import os
import socket
import stat
import subprocess
import threading

import grpc
import pytest

from conftest import berthd_path, poll

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGE = "/runtime.v1.ImageService/"


def assert_serving(d, client=None):
    """The daemon is alive and answers a real call."""
    assert d.running()
    c = client or d.client()
    assert c.call("Version").runtime_name == "berth"


def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


def test_version(berthd):
    v = berthd.client().call("Version", berthd.pb.VersionRequest(version="0.1.0"))
    assert v.runtime_name == "berth"
    assert v.runtime_api_version == "v1"
    assert v.version == "0.1.0"
    out = subprocess.run([berthd_path(), "--version"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["berthd", v.runtime_version]


def test_status_conditions_and_verbose_config(berthd):
    c = berthd.client()
    st = c.call("Status")
    conds = {x.type: x for x in st.status.conditions}
    assert conds["RuntimeReady"].status is True
    assert conds["NetworkReady"].status is False
    assert conds["NetworkReady"].reason == "NetworkPluginNotReady"
    assert berthd.cni_dir in conds["NetworkReady"].message
    assert len(st.info) == 0
    assert "runc" in [h.name for h in st.runtime_handlers]

    import json
    verbose = c.call("Status", berthd.pb.StatusRequest(verbose=True))
    cfg = json.loads(verbose.info["config"])
    assert cfg["socket"] == berthd.socket
    assert cfg["state_dir"] == berthd.state_dir
    assert cfg["cni"]["conf_dir"] == berthd.cni_dir
    assert cfg["workers"] == 4


def test_status_runtime_not_ready_without_runtime_binary(berthd_factory):
    d = berthd_factory({"runtimes": {"runc": {"path": "/nonexistent/runc"}}})
    conds = {x.type: x for x in d.client().call("Status").status.conditions}
    assert conds["RuntimeReady"].status is False
    assert conds["RuntimeReady"].reason == "RuntimeNotReady"
    assert "'/nonexistent/runc' is not executable" in conds["RuntimeReady"].message


def test_status_network_ready_follows_cni_dir(berthd):
    c = berthd.client()
    ready = lambda: {x.type: x.status for x in c.call("Status").status.conditions}["NetworkReady"]
    assert ready() is False
    conflist = ('{"cniVersion": "1.0.0", "name": "berth-test", '
                '"plugins": [{"type": "loopback"}]}')
    tmp = os.path.join(berthd.cni_dir, ".10-test.tmp")
    with open(tmp, "w") as f:
        f.write(conflist)
    os.rename(tmp, os.path.join(berthd.cni_dir, "10-test.conflist"))
    assert ready() is True  # re-checked on each call, no restart
    os.unlink(os.path.join(berthd.cni_dir, "10-test.conflist"))
    assert ready() is False


def update_cidr(c, pb, cidr):
    return c.call("UpdateRuntimeConfig", pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr=cidr))))


def test_update_runtime_config_pod_cidr(berthd):
    """kubelet's pod CIDRs are checked, kept (Status verbose shows them) and, without a
    conf template, change nothing else."""
    import json
    c, pb = berthd.client(), berthd.pb
    update_cidr(c, pb, "")  # nothing to do
    assert "podCIDRs" not in c.call("Status", pb.StatusRequest(verbose=True)).info
    update_cidr(c, pb, "10.244.1.0/24,fd00:10:244:1::/64")
    info = c.call("Status", pb.StatusRequest(verbose=True)).info
    assert info["podCIDRs"] == "10.244.1.0/24,fd00:10:244:1::/64"
    assert json.loads(info["config"])["cni"]["conf_template"] is None
    assert os.listdir(berthd.cni_dir) == []
    for bad in ("10.244.1.0", "10.244.1.0/33", "fd00::/129", "nonsense/8", "10.0.0.0/",
                "10.0.0.0/8,", "10.0.0.0/+8", ",".join(["10.0.0.0/8"] * 17)):
        e = rpc_error(update_cidr, c, pb, bad)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, bad
        assert "pod CIDR" in e.details(), bad
    # a bad request changed nothing
    info = c.call("Status", pb.StatusRequest(verbose=True)).info
    assert info["podCIDRs"] == "10.244.1.0/24,fd00:10:244:1::/64"
    assert "pod CIDR from kubelet" in berthd.stderr()


def test_update_runtime_config_writes_cni_conf_template(berthd_factory, tmp_path):
    """With cni.conf_template, the first pod CIDR fills {{.PodCIDR}} into the conf dir
    when it holds no network config yet (the node turns NetworkReady), as containerd does;
    a config already there is left alone."""
    import json
    tpl = tmp_path / "template.conflist"
    tpl.write_text('{"cniVersion": "1.0.0", "name": "berth", "plugins": [{"type": '
                   '"bridge", "bridge": "berth0", "ipam": {"type": "host-local", '
                   '"ranges": [[{"subnet": "{{.PodCIDR}}"}]]}}, {"type": "loopback"}]}')
    d = berthd_factory({"cni": {"conf_template": str(tpl)}})
    c, pb = d.client(), d.pb
    ready = lambda: {x.type: x.status for x in c.call("Status").status.conditions}["NetworkReady"]
    assert ready() is False
    update_cidr(c, pb, "10.88.7.0/24,fd00:7::/64")
    out = os.path.join(d.cni_dir, "10-berth-net.conflist")
    conf = json.loads(open(out).read())
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.88.7.0/24"}]]
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"
    assert ready() is True
    # a later CIDR does not overwrite the config that is there now
    update_cidr(c, pb, "10.99.0.0/24")
    assert json.loads(open(out).read()) == conf
    # a template berth can't fill is refused, naming what it can't fill
    os.unlink(out)
    tpl.write_text('{"plugins": [{"type": "bridge", "x": "{{.Routes}}"}]}')
    e = rpc_error(update_cidr, c, pb, "10.99.0.0/24")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not '{{.Routes}}'" in e.details()
    tpl.write_text('{"name": "{{.PodCIDR}}"}')
    e = rpc_error(update_cidr, c, pb, "10.99.0.0/24")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not give a network config" in e.details()
    assert os.listdir(d.cni_dir) == []
    assert_serving(d, c)


def test_runtime_config_cgroup_driver(berthd_factory):
    d = berthd_factory()
    pb = d.pb
    assert d.client().call("RuntimeConfig").linux.cgroup_driver == pb.CGROUPFS
    s = berthd_factory({"cgroup_driver": "systemd"})
    assert s.client().call("RuntimeConfig").linux.cgroup_driver == pb.SYSTEMD


def test_unimplemented_rpc_names_method(berthd):
    c = berthd.client()
    e = rpc_error(c.call, "ListMetricDescriptors")
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert e.details() == "method 'ListMetricDescriptors' is not implemented"
    e = rpc_error(c.call, "ListPodSandboxMetrics")
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "'ListPodSandboxMetrics'" in e.details()
    # a server-streaming RPC answers the same way
    e = rpc_error(lambda: list(c.stream("StreamPodSandboxMetrics")))
    assert e.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "'StreamPodSandboxMetrics'" in e.details()
    assert_serving(berthd, c)
    log = berthd.stderr()
    assert "warn cri method=ListMetricDescriptors" in log
    assert "status=UNIMPLEMENTED" in log


def test_unknown_method_and_service(berthd):
    c = berthd.client()
    for path in (RUNTIME + "NoSuchMethod", "/runtime.v1.NoSuchService/Version", "/x"):
        e = rpc_error(c.raw, path, b"")
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, path
        assert path in e.details()
    assert_serving(berthd, c)


def test_concurrent_calls_all_answered(berthd):
    c = berthd.client()
    names = ["Version", "Status", "RuntimeConfig", "ListImages"]

    def one(i):
        name = names[i % len(names)]
        try:
            return name, c.call(name)
        except grpc.RpcError as e:
            return name, e.code()

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(one, range(100)))
    assert len(results) == 100
    for name, r in results:
        assert not isinstance(r, grpc.StatusCode), (name, r)
    assert sum(1 for n, r in results if n == "Version" and r.runtime_name == "berth") == 25


def test_random_bytes_close_connection(berthd):
    for _ in range(3):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(berthd.socket)
        try:
            s.sendall(os.urandom(64 * 1024))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still writing: that is the answer too
        try:
            while s.recv(65536):
                pass  # a GOAWAY may come first; then the server closes
        except ConnectionResetError:
            pass
        s.close()
    assert_serving(berthd)


def test_garbage_and_truncated_payloads(berthd):
    c = berthd.client()
    pb = berthd.pb
    good = pb.VersionRequest(version="0.1.0").SerializeToString()
    for payload in (b"\xff\xff\xff\xff\xff", good[:-1], b"\x0a\x10abc", os.urandom(1) + b"\x80"):
        e = rpc_error(c.raw, RUNTIME + "Version", payload)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, payload
        assert e.details() == "method 'Version': invalid VersionRequest payload"
    # an empty message is a valid (all-default) request
    assert pb.VersionResponse.FromString(c.raw(RUNTIME + "Version", b"")).runtime_name == "berth"
    assert_serving(berthd, c)


def test_message_size_limit(berthd):
    c = berthd.client()
    pb = berthd.pb
    limit = 16 * 1024 * 1024
    e = rpc_error(c.raw, RUNTIME + "Version", b"\0" * (limit + 1))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # just under the limit is a valid request
    big = pb.VersionRequest(version="a" * (limit - 16)).SerializeToString()
    assert len(big) <= limit
    assert pb.VersionResponse.FromString(c.raw(RUNTIME + "Version", big)).runtime_name == "berth"
    assert_serving(berthd, c)


def test_deadlines_and_cancellation(berthd):
    c = berthd.client()
    # a short but sufficient deadline works
    assert c.call("Status", timeout=5).status.conditions
    # an already-expired deadline fails without harming the server
    e = rpc_error(c.call, "Status", timeout=-1)
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # calls cancelled in flight
    futs = [c.future("Status") for _ in range(50)]
    for f in futs:
        f.cancel()
    for f in futs:
        assert f.cancelled() or f.result().status.conditions
    assert_serving(berthd, c)


def test_socket_mode_and_owner(berthd):
    st = os.lstat(berthd.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert st.st_uid == 0


def test_sigterm_exits_zero_and_removes_socket(berthd):
    c = berthd.client()
    assert_serving(berthd, c)
    # in-flight calls at the moment of the signal still get an answer or a clean error
    futs = [c.future("Status") for _ in range(20)]
    rc, took = berthd.stop(timeout=2)
    assert rc == 0
    assert took < 2
    assert not os.path.exists(berthd.socket)
    for f in futs:
        try:
            assert f.result().status.conditions
        except grpc.RpcError as e:
            assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
    log = berthd.stderr()
    assert "berthd stopped" in log


def test_sigint_exits_zero(berthd):
    import signal
    berthd.proc.send_signal(signal.SIGINT)
    assert berthd.proc.wait(timeout=2) == 0
    assert not os.path.exists(berthd.socket)


def test_sighup_with_unchanged_config_changes_nothing(berthd):
    """SIGHUP reloads the config (tests/integration/test_config.py); the same file again
    applies nothing and the daemon keeps serving."""
    import signal
    berthd.proc.send_signal(signal.SIGHUP)
    poll(lambda: 'msg="config reloaded"' in berthd.stderr(), 10, "the reload log line")
    assert "applied=0 need_restart=0 failed=0" in berthd.stderr()
    assert_serving(berthd)


def test_second_berthd_same_state_dir_refused(berthd_factory):
    first = berthd_factory()
    second = berthd_factory(state_dir=first.state_dir, netns=first.netns, wait=False)
    rc = second.proc.wait(timeout=20)
    assert rc != 0
    second.expect_clean_exit = False
    log = second.stderr()
    assert os.path.join(first.state_dir, "berthd.lock") in log
    assert f"pid {first.pid}" in log
    assert not os.path.exists(second.socket)
    assert_serving(first)


def test_restart_after_sigterm(berthd):
    first = berthd.pid
    berthd.restart()
    assert berthd.pid != first
    assert berthd.call("Version").runtime_name == "berth"


def test_restart_after_kill_reuses_state_dir(berthd):
    berthd.kill()  # the kernel drops the flock; the stale socket is replaced
    assert os.path.exists(berthd.socket)
    berthd.start()
    assert_serving(berthd)


def test_bad_config_refused(berthd_factory):
    d = berthd_factory({"workers": 0, "no_such_key": 1}, wait=False)
    assert d.proc.wait(timeout=20) == 1
    d.expect_clean_exit = False
    assert "unknown key 'no_such_key'" in d.stderr() or "'workers' out of range" in d.stderr()
    missing = subprocess.run([berthd_path(), "--config", "/nonexistent/berth.json"],
                             capture_output=True, text=True)
    assert missing.returncode == 1
    assert "/nonexistent/berth.json" in missing.stderr


def test_help(berthd_factory):
    out = subprocess.run([berthd_path(), "--help"], capture_output=True, text=True, check=True)
    for flag in ("--config", "--socket", "--state-dir", "--run-dir", "--log-level"):
        assert flag in out.stdout
    bad = subprocess.run([berthd_path(), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2


def test_sd_notify_ready_when_listening(berthd_factory):
    d = berthd_factory(start=False)
    path = os.path.join(d.root, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(20)
    try:
        d.env = {**os.environ, "NOTIFY_SOCKET": path}
        d.start(wait=False)
        msg = s.recv(4096)
        assert b"READY=1" in msg.split(b"\n")
        # READY means listening: the first call after it is answered
        assert d.call("Version").runtime_name == "berth"
    finally:
        s.close()


def test_corrupt_state_record_is_skipped_with_warning(berthd):
    """A half-written record left by a crash never stops berthd: it is reported
    by path and skipped, and the daemon serves."""
    berthd.stop()
    cdir = os.path.join(berthd.state_dir, "store", "containers")
    assert os.path.isdir(cdir), "berthd keeps its store under <state>/store"
    bad = os.path.join(cdir, "ab" * 32 + ".json")
    with open(bad, "w") as f:
        f.write('{"version":1,"kind":"container","meta":{"id":')
    berthd.start()
    assert_serving(berthd)
    log = berthd.stderr()
    assert "skipped state record" in log and bad in log
