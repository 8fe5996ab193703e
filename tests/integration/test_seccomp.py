# SPDX-License-Identifier: Apache-2.0
"""seccomp: the RuntimeDefault profile (the installed containers-common one), Unconfined,
Localhost profiles through the SecurityProfile field and the deprecated
seccomp_profile_path, privileged containers running unconfined, and bad profiles failing
CreateContainer with the right status while leaving nothing behind.

The filter is checked from inside the container: /proc/self/status "Seccomp:" is 2 under
a filter and 0 without one, and a profile that answers chmod with SCMP_ACT_ERRNO makes
busybox's chmod fail with EPERM."""
import json
import os
import shutil
import tempfile

import grpc
import pytest

from ctrutil import Env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

SLEEP = ["sh", "-c", "exec sleep 1000"]

# critest's "block chmod" profile, in the OCI linux.seccomp format.
BLOCK_CHMOD = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO"}]}



@pytest.fixture
def make_env(berthd_factory, net, reg):
    """make_env(config=None) -> Env with busybox pulled; each one is checked for leaks."""
    envs = []

    def make(config=None):
        e = Env(berthd_factory(config, netns=net), reg)
        envs.append(e)
        e.pull("busybox")
        return e

    yield make
    leaks = []
    for e in envs:
        leaks += e.cleanup()
    assert not leaks, leaks


@pytest.fixture
def env(make_env):
    return make_env()


@pytest.fixture
def profiles():
    """A dir of profile files on the host; write(name, obj or text) -> absolute path."""
    d = tempfile.mkdtemp(prefix="berth-seccomp-")

    def write(name, content):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return p

    yield write
    shutil.rmtree(d, ignore_errors=True)


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def sec_ctx(pb, profile=None, path=None, privileged=False):
    """A container security context with the seccomp field (profile: (type, ref)) and/or
    the deprecated seccomp_profile_path."""
    sc = pb.LinuxContainerSecurityContext(privileged=privileged)
    if profile is not None:
        sc.seccomp.CopyFrom(pb.SecurityProfile(profile_type=profile[0],
                                               localhost_ref=profile[1] or ""))
    if path is not None:
        sc.seccomp_profile_path = path
    return sc


def run_with(env, pod, name, **kw):
    sc = sec_ctx(env.pb, **kw)
    cfg = env.ctr_config(name, command=SLEEP, linux=env.pb.LinuxContainerConfig(
        security_context=sc))
    cid = env.create(pod, cfg)
    env.start(cid)
    return cid


def seccomp_mode(env, cid):
    r = env.exec(cid, ["sh", "-c", "grep ^Seccomp: /proc/self/status"])
    assert r.exit_code == 0, r.stderr
    return r.stdout.decode().split()[1]


def spec_seccomp(env, cid):
    with open(os.path.join(env.d.run_dir, "c", cid, "config.json")) as f:
        return json.load(f)["linux"].get("seccomp")


def test_runtime_default_filters(env):
    pb = env.pb
    pod = env.pod()
    field = run_with(env, pod, "field", profile=(pb.SecurityProfile.RuntimeDefault, None))
    assert seccomp_mode(env, field) == "2"
    spec = spec_seccomp(env, field)
    assert spec["defaultAction"] == "SCMP_ACT_ERRNO"
    assert spec["architectures"][0] == "SCMP_ARCH_X86_64"
    allowed = {n for s in spec["syscalls"] if s["action"] == "SCMP_ACT_ALLOW"
               for n in s["names"]}
    assert "read" in allowed and "sethostname" not in allowed  # no CAP_SYS_ADMIN
    # ordinary commands work under it
    r = env.exec(field, ["sh", "-c", "echo hi > /f && chmod 600 /f && cat /f"])
    assert (r.exit_code, r.stdout) == (0, b"hi\n"), r.stderr
    for i, path in enumerate(["runtime/default", "docker/default"]):
        cid = run_with(env, pod, f"path{i}", path=path)
        assert seccomp_mode(env, cid) == "2"


def test_unconfined(env):
    pb = env.pb
    pod = env.pod()
    field = run_with(env, pod, "field", profile=(pb.SecurityProfile.Unconfined, None),
                     path="runtime/default")  # the field wins
    assert seccomp_mode(env, field) == "0"
    assert spec_seccomp(env, field) is None
    for i, path in enumerate(["unconfined", ""]):
        cid = run_with(env, pod, f"path{i}", path=path)
        assert seccomp_mode(env, cid) == "0"


def test_localhost_profile_blocks_chmod(env, profiles):
    pb = env.pb
    p = profiles("block-chmod.json", BLOCK_CHMOD)
    pod = env.pod()
    field = run_with(env, pod, "field", profile=(pb.SecurityProfile.Localhost, p))
    dep = run_with(env, pod, "dep", path="localhost/" + p)
    for cid in (field, dep):
        assert seccomp_mode(env, cid) == "2"
        r = env.exec(cid, ["sh", "-c", "chmod 400 /"])
        assert r.exit_code != 0
        assert b"Operation not permitted" in r.stderr, r.stderr
        r = env.exec(cid, ["sh", "-c", "echo ok > /x && cat /x"])
        assert (r.exit_code, r.stdout) == (0, b"ok\n"), r.stderr
    assert spec_seccomp(env, field)["syscalls"] == BLOCK_CHMOD["syscalls"]


def test_bad_profiles_leave_nothing(env, profiles):
    pb = env.pb
    good = profiles("good.json", BLOCK_CHMOD)
    bad_json = profiles("bad.json", '{"defaultAction": "SCMP_ACT_ALLOW", ')
    bad_action = profiles("action.json", {"defaultAction": "SCMP_ACT_MAYBE"})
    missing = os.path.join(os.path.dirname(good), "missing.json")
    pod = env.pod()
    L = pb.SecurityProfile.Localhost
    cases = [
        # critest: a custom profile path without the localhost/ prefix
        (dict(path=good), grpc.StatusCode.INVALID_ARGUMENT,
         f"seccomp profile path '{good}' is not 'runtime/default'"),
        (dict(path="localhost/rel/p.json"), grpc.StatusCode.INVALID_ARGUMENT,
         "seccomp localhost profile 'rel/p.json' is not an absolute path"),
        (dict(profile=(L, "rel/p.json")), grpc.StatusCode.INVALID_ARGUMENT,
         "seccomp localhost profile 'rel/p.json' is not an absolute path"),
        (dict(profile=(pb.SecurityProfile.RuntimeDefault, good)),
         grpc.StatusCode.INVALID_ARGUMENT, "profile type is not Localhost"),
        (dict(profile=(L, missing)), grpc.StatusCode.NOT_FOUND,
         f"seccomp profile '{missing}' not found"),
        (dict(path="localhost/" + missing), grpc.StatusCode.NOT_FOUND,
         f"seccomp profile '{missing}' not found"),
        (dict(profile=(L, bad_json)), grpc.StatusCode.INVALID_ARGUMENT,
         f"seccomp profile '{bad_json}': invalid JSON"),
        (dict(profile=(L, bad_action)), grpc.StatusCode.INVALID_ARGUMENT,
         "'defaultAction' 'SCMP_ACT_MAYBE' is not a seccomp action"),
        (dict(profile=(L, os.path.dirname(good))), grpc.StatusCode.INVALID_ARGUMENT,
         "is not a regular file"),
    ]
    for i, (kw, code, msg) in enumerate(cases):
        cfg = env.ctr_config(f"bad{i}", command=SLEEP, linux=pb.LinuxContainerConfig(
            security_context=sec_ctx(pb, **kw)))
        e = rpc_error(env.create, pod, cfg)
        assert (e.code(), msg in e.details()) == (code, True), (i, e.code(), e.details())
        assert env.list() == []
        assert env.leaks(pods=False) == []
    # the names were released: the same container now creates
    cfg = env.ctr_config("bad0", command=SLEEP, linux=pb.LinuxContainerConfig(
        security_context=sec_ctx(pb, profile=(L, good))))
    env.create(pod, cfg)
    assert env.d.running()


def test_privileged_runs_unconfined(env, profiles):
    pb = env.pb
    p = profiles("block-chmod.json", BLOCK_CHMOD)
    cfg = env.pod_config("priv")
    cfg.linux.security_context.privileged = True
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    pod = (sid, cfg)
    for i, kw in enumerate([dict(profile=(pb.SecurityProfile.Localhost, p)),
                            dict(path="localhost/" + p),
                            dict(profile=(pb.SecurityProfile.RuntimeDefault, None))]):
        cid = run_with(env, pod, f"priv{i}", privileged=True, **kw)
        assert seccomp_mode(env, cid) == "0"
        assert spec_seccomp(env, cid) is None
        r = env.exec(cid, ["sh", "-c", "chmod 700 /opt"])
        assert r.exit_code == 0, r.stderr


def test_runtime_default_profile_missing(make_env):
    missing = "/nonexistent/berth-seccomp.json"
    env = make_env({"seccomp_profile": missing})
    assert "default seccomp profile" in env.d.stderr() and missing in env.d.stderr()
    pb = env.pb
    pod = env.pod()
    for i, kw in enumerate([dict(profile=(pb.SecurityProfile.RuntimeDefault, None)),
                            dict(path="runtime/default")]):
        cfg = env.ctr_config(f"rd{i}", command=SLEEP, linux=pb.LinuxContainerConfig(
            security_context=sec_ctx(pb, **kw)))
        e = rpc_error(env.create, pod, cfg)
        assert e.code() == grpc.StatusCode.NOT_FOUND
        assert f"seccomp profile '{missing}' not found" in e.details(), e.details()
        assert "config 'seccomp_profile'" in e.details()
        assert env.list() == []
        assert env.leaks(pods=False) == []
    # unconfined containers don't need the file
    cid = run_with(env, pod, "plain", path="unconfined")
    assert seccomp_mode(env, cid) == "0"
