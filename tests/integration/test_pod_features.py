# SPDX-License-Identifier: Apache-2.0
"""What current kubelets (1.33) ask of a runtime (issue 10), on real runc containers in real
pods: recursive read-only mounts, SupplementalGroupsPolicy with ContainerStatus.user read from
the process, the feature flags kubelet reads from Status, and StopContainer of an unknown ID.
Each effect is checked from inside the container; every test ends with the leak check of
ctrutil.Env (no mount, shim, runc container, cgroup or bundle left)."""
import json
import os
import shutil
import subprocess
import tempfile

import grpc
import pytest

from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

SLEEP = ["sh", "-c", "exec sleep 1000"]


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def sh(env, cid, script):
    r = env.exec(cid, ["sh", "-c", script])
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


@pytest.fixture
def src_with_submount():
    """A host dir with a tmpfs mounted at sub/ (the submount a volume carries along)."""
    d = tempfile.mkdtemp(prefix="berth-rro-")
    sub = os.path.join(d, "sub")
    os.mkdir(sub)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "berth-rro", sub], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", sub], check=False)
        try:
            shutil.rmtree(d)
        except OSError:  # sub/ stays busy while a container of the test still holds it
            _submount_dirs.append(d)


_submount_dirs = []


@pytest.fixture(scope="module", autouse=True)
def _submount_dirs_removed():
    """Removes the dirs src_with_submount could not, once every container of the module's
    tests is gone (module fixtures end after each test's env); a dir still busy then fails."""
    yield
    while _submount_dirs:
        shutil.rmtree(_submount_dirs.pop())


def test_status_features_as_kubelet_reads_them(env):
    pb = env.pb
    st = env.call("Status", pb.StatusRequest(verbose=True))
    # kubelet 1.33 looks the pod's runtime class up by name, "" for the default handler
    names = [h.name for h in st.runtime_handlers]
    assert names[0] == "" and "runc" in names
    for h in st.runtime_handlers:
        assert h.features.recursive_read_only_mounts, h
    assert st.features.supplemental_groups_policy
    feats = json.loads(st.info["features"])
    assert feats["recursiveReadOnlyMounts"] is True
    assert feats["supplementalGroupsPolicy"] is True
    assert isinstance(feats["userNamespaces"], bool)
    assert feats["userNamespaces"] == all(h.features.user_namespaces
                                          for h in st.runtime_handlers)
    if not feats["userNamespaces"]:
        assert feats["userNamespacesMissing"]


def test_stop_container_of_unknown_id_is_ok(env):
    pb = env.pb
    env.call("StopContainer", pb.StopContainerRequest(container_id="f" * 64, timeout=10))
    pod = env.pod()
    cid = env.run(pod, "gone", SLEEP)
    env.remove(cid)
    # as kubelet does after a removal it did not see complete: OK, not NOT_FOUND
    env.call("StopContainer", pb.StopContainerRequest(container_id=cid, timeout=0))
    env.call("RemoveContainer", pb.RemoveContainerRequest(container_id=cid))
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id="e" * 64))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id="e" * 64))
    env.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image="sha256:" + "d" * 64)))


def test_recursive_read_only_mount_covers_submounts(env, src_with_submount):
    pb = env.pb
    src = src_with_submount
    pod = env.pod()
    mounts = [pb.Mount(host_path=src, container_path="/rro", readonly=True,
                       recursive_read_only=True),
              pb.Mount(host_path=src, container_path="/ro", readonly=True)]
    cid = env.run(pod, "rro", SLEEP, mounts=mounts)
    # the plain read-only mount: only its top is read-only, the tmpfs under it is not
    rc, _, err = sh(env, cid, "touch /ro/top")
    assert rc != 0 and "Read-only file system" in err
    assert sh(env, cid, "echo plain > /ro/sub/written && cat /ro/sub/written")[:2] == \
        (0, "plain\n")
    assert open(os.path.join(src, "sub", "written")).read() == "plain\n"
    # the recursive one: the same tmpfs refuses writes through it
    rc, _, err = sh(env, cid, "touch /rro/top")
    assert rc != 0 and "Read-only file system" in err
    rc, _, err = sh(env, cid, "echo x > /rro/sub/nope")
    assert rc != 0 and "Read-only file system" in err, err
    assert not os.path.exists(os.path.join(src, "sub", "nope"))
    assert sh(env, cid, "cat /rro/sub/written")[:2] == (0, "plain\n")
    # every mount under /rro is read-only in the container's mount table
    rc, out, _ = sh(env, cid, "grep ' /rro' /proc/self/mountinfo")
    lines = out.strip().splitlines()
    assert rc == 0 and len(lines) == 2, out
    assert all(l.split()[5].split(",")[0] == "ro" for l in lines), out
    st = env.status(cid).status
    m = [x for x in st.mounts if x.container_path == "/rro"][0]
    assert m.readonly and m.recursive_read_only


def test_recursive_read_only_bad_combinations_refused(env, src_with_submount):
    pb = env.pb
    pod = env.pod()
    cases = [
        (pb.Mount(host_path=src_with_submount, container_path="/v", readonly=False,
                  recursive_read_only=True),
         "config.mounts[0].recursive_read_only needs readonly: mount '/v' is read-write"),
        (pb.Mount(host_path=src_with_submount, container_path="/v", readonly=True,
                  recursive_read_only=True, propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
         "config.mounts[0].recursive_read_only needs propagation PROPAGATION_PRIVATE: mount "
         "'/v' has PROPAGATION_HOST_TO_CONTAINER"),
        (pb.Mount(host_path=src_with_submount, container_path="/v", readonly=True,
                  recursive_read_only=True, propagation=pb.PROPAGATION_BIDIRECTIONAL),
         "has PROPAGATION_BIDIRECTIONAL"),
    ]
    for m, msg in cases:
        e = rpc_error(env.create, pod, env.ctr_config("bad", command=SLEEP, mounts=[m]))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
        assert msg in e.details()
        assert env.list() == []
        assert env.leaks(pods=False) == []
    # the name was released: the same container name is taken now
    cid = env.create(pod, env.ctr_config("bad", command=SLEEP))
    assert [c.id for c in env.list()] == [cid]


def groups_pod(env, policy):
    pb = env.pb
    cfg = env.pod_config("groups")
    cfg.linux.security_context.supplemental_groups_policy = policy
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    return sid, cfg


def groups_ctr(env, pod, name, policy, **sc):
    pb = env.pb
    sec = pb.LinuxContainerSecurityContext(supplemental_groups_policy=policy,
                                           supplemental_groups=[4000], **sc)
    return env.run(pod, name, SLEEP, image="groups",
                   linux=pb.LinuxContainerConfig(security_context=sec))


def ids_inside(env, cid):
    rc, out, _ = sh(env, cid, "id -u; id -g; id -G")
    assert rc == 0
    u, g, gs = out.strip().split("\n")
    return int(u), int(g), sorted(int(x) for x in gs.split())


def reported(env, cid):
    u = env.status(cid).status.user.linux
    return u.uid, u.gid, sorted(u.supplemental_groups)


def test_supplemental_groups_policy_merge_and_strict(env):
    pb = env.pb
    env.pull("groups")
    # Merge (the default): the image's /etc/group memberships of app join the request's
    pod = groups_pod(env, pb.Merge)
    merge = groups_ctr(env, pod, "merge", pb.Merge)
    assert ids_inside(env, merge) == (1000, 1000, [1000, 2000, 3000, 4000])
    assert reported(env, merge) == (1000, 1000, [1000, 2000, 3000, 4000])
    # Strict: only the primary group and supplemental_groups
    strict = groups_ctr(env, pod, "strict", pb.Strict)
    assert ids_inside(env, strict) == (1000, 1000, [1000, 4000])
    assert reported(env, strict) == (1000, 1000, [1000, 4000])
    # Strict with run_as_group: that group replaces the user's primary one
    grp = groups_ctr(env, pod, "strict-group", pb.Strict,
                     run_as_user=pb.Int64Value(value=1000), run_as_group=pb.Int64Value(value=5000))
    assert ids_inside(env, grp) == (1000, 5000, [4000, 5000])
    assert reported(env, grp) == (1000, 5000, [4000, 5000])
    # the pod's Strict applies to a container that leaves the default
    spod = groups_pod(env, pb.Strict)
    inherit = groups_ctr(env, spod, "inherit", pb.Merge)
    assert ids_inside(env, inherit) == (1000, 1000, [1000, 4000])
    # the user is read from the process: once it exited there is none
    env.stop(merge, timeout=0)
    assert not env.status(merge).status.HasField("user")


# ---- user namespaces (mode POD) ----

HOST_BASE = 2000000  # the pods' host ids: HOST_BASE.. (65536 each), away from real users
LEN = 65536


def userns(pb, mode, uids=(), gids=()):
    m = lambda t: pb.IDMapping(host_id=t[0], container_id=t[1], length=t[2])
    return pb.UserNamespace(mode=mode, uids=[m(t) for t in uids], gids=[m(t) for t in gids])


def userns_pod_config(env, name="uns", host=HOST_BASE, pid=None, **kw):
    pb = env.pb
    cfg = env.pod_config(name, pid=pid, **kw)
    cfg.linux.security_context.namespace_options.userns_options.CopyFrom(
        userns(pb, pb.POD, [(host, 0, LEN)], [(host, 0, LEN)]))
    return cfg


def userns_pod(env, name="uns", host=HOST_BASE, **kw):
    cfg = userns_pod_config(env, name, host, **kw)
    sid = env.call("RunPodSandbox", env.pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    return sid, cfg


def userns_ctr(env, pod, name, command=SLEEP, **kw):
    """A container config as kubelet sends it in such a pod: the pod's userns_options."""
    pb = env.pb
    pod_ns = pod[1].linux.security_context.namespace_options
    sc = pb.LinuxContainerSecurityContext(namespace_options=pb.NamespaceOption(
        pid=pod_ns.pid, userns_options=pod_ns.userns_options))
    return env.run(pod, name, command, linux=pb.LinuxContainerConfig(security_context=sc), **kw)


def proc_ids(pid):
    with open(f"/proc/{pid}/status") as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    return int(st["Uid"].split()[1]), int(st["Gid"].split()[1])


def require_userns(env):
    # the fixture's root (mkdtemp, 0700) holds berthd's run dir: the pod's root, which is
    # no one on the host, must get through it as through /run to the bundles
    os.chmod(env.d.root, 0o711)
    st = env.call("Status", env.pb.StatusRequest(verbose=True))
    feats = json.loads(st.info["features"])
    assert feats["userNamespaces"], feats.get("userNamespacesMissing")
    assert all(h.features.user_namespaces for h in st.runtime_handlers)


@pytest.fixture
def host_volume():
    """A hostPath volume dir owned by host root, with a host root file in it."""
    d = tempfile.mkdtemp(prefix="berth-uns-vol-")
    os.chmod(d, 0o755)
    with open(os.path.join(d, "from-host"), "w") as f:
        f.write("host\n")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_userns_pod_container_sees_its_mapping_and_root(env, host_volume):
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env)
    tlog = os.path.join(host_volume, "termination-log")
    open(tlog, "w").close()
    mounts = [pb.Mount(host_path=host_volume, container_path="/data"),
              pb.Mount(host_path=tlog, container_path="/dev/termination-log")]
    cid = userns_ctr(env, pod, "a", mounts=mounts)
    # the maps, read inside
    assert sh(env, cid, "cat /proc/self/uid_map")[1].split() == ["0", str(HOST_BASE), str(LEN)]
    assert sh(env, cid, "cat /proc/self/gid_map")[1].split() == ["0", str(HOST_BASE), str(LEN)]
    # root inside, the mapped host ids outside
    assert sh(env, cid, "id -u; id -g")[1].split() == ["0", "0"]
    pid = env.info(cid)["pid"]
    assert proc_ids(pid) == (HOST_BASE, HOST_BASE)
    assert env.status(cid).status.user.linux.uid == 0
    # the bundle and its idmapped mounts: only root and the pod's root group get through
    bundle = os.path.join(env.d.run_dir, "c", cid)
    for p in (bundle, os.path.join(bundle, "idmap")):
        st = os.stat(p)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, HOST_BASE, 0o710), p
    # the rootfs: the image's files (host root on disk, never chowned) are root's inside
    rc, out, _ = sh(env, cid, "stat -c '%u:%g %n' / /bin/busybox /etc/passwd /opt/a")
    assert rc == 0 and [l.split()[0] for l in out.splitlines()] == ["0:0"] * 4, out
    # ... and writable by it: the write lands in the upper dir as the mapped host uid
    assert sh(env, cid, "echo w > /etc/motd && echo new > /made && stat -c %u /made")[:2] == \
        (0, "0\n")
    upper = os.path.join(env.d.state_dir, "containers", cid, "upper")
    assert os.stat(os.path.join(upper, "made")).st_uid == HOST_BASE
    # copied up from a layer: its owner as the container sees it, root, is host uid HOST_BASE
    assert os.stat(os.path.join(upper, "etc", "motd")).st_uid == HOST_BASE
    # the layer itself is untouched
    rc, out, _ = sh(env, cid, "cat /etc/motd")
    assert out == "w\n"
    # every bind mount through an idmapped mount: root's inside
    rc, out, _ = sh(env, cid, "stat -c '%u:%g %n' /etc/hosts /etc/resolv.conf /etc/hostname "
                              "/dev/shm /dev/termination-log /data /data/from-host")
    assert rc == 0 and all(l.split()[0] == "0:0" for l in out.splitlines()), out
    assert sh(env, cid, "cat /data/from-host")[1] == "host\n"
    # a file container root writes into the hostPath volume: through the idmapped mount
    # it is written as the on-disk id that mount gives the pod's root, host uid 0, and a
    # host root file is the pod's; the process itself stays the mapped host uid
    assert sh(env, cid, "echo c > /data/by-ctr && echo x > /dev/termination-log")[0] == 0
    st = os.stat(os.path.join(host_volume, "by-ctr"))
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert open(tlog).read() == "x\n"
    assert proc_ids(pid) == (HOST_BASE, HOST_BASE)
    # the idmapped mount shows every on-disk id below the mapping's length as itself
    os.chown(os.path.join(host_volume, "from-host"), 12345, 12345)
    assert sh(env, cid, "stat -c %u:%g /data/from-host")[1].strip() == "12345:12345"
    # and one beyond it as nobody: the pod's root has no power over it
    os.chown(os.path.join(host_volume, "from-host"), 100000, 100000)
    assert sh(env, cid, "stat -c %u /data/from-host")[1].strip() == "65534"
    # the container is root in its namespace, not on the host: a host-only file stays shut
    os.chmod(os.path.join(host_volume, "from-host"), 0o600)
    rc, _, err = sh(env, cid, "cat /data/from-host")
    assert rc != 0 and "Permission denied" in err


def test_userns_two_containers_share_the_pods_namespaces(env):
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env, pid=pb.POD)
    a = userns_ctr(env, pod, "a")
    b = userns_ctr(env, pod, "b")
    ns = lambda cid, t: sh(env, cid, f"readlink /proc/self/ns/{t}")[1].strip()
    for t in ("user", "net", "ipc", "uts", "pid"):
        assert ns(a, t) == ns(b, t), t
    info = json.loads(env.call("PodSandboxStatus", pb.PodSandboxStatusRequest(
        pod_sandbox_id=pod[0], verbose=True)).info["info"])
    assert ns(a, "user") == f"user:[{os.stat(info['userns']).st_ino}]"
    # the pod's other namespaces are owned by it: a container can't see the host's netns,
    # and the shared PID namespace shows the pod init and the other container
    rc, out, _ = sh(env, a, "ps -o pid,comm")
    assert "berth-pod-init" in out and out.count("sleep") == 2, out
    st = env.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=pod[0]))
    u = st.status.linux.namespaces.options.userns_options
    assert u.mode == pb.POD and (u.uids[0].host_id, u.uids[0].length) == (HOST_BASE, LEN)


def test_userns_sysctls_hostname_and_network_inside(env):
    pb = env.pb
    require_userns(env)
    cfg = userns_pod_config(env, "uns-sys", host=HOST_BASE + LEN)
    cfg.hostname = "inside-uns"
    cfg.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "80"
    cfg.linux.sysctls["kernel.shmmni"] = "2048"
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    pod = (sid, cfg)
    cid = userns_ctr(env, pod, "s")
    rc, out, _ = sh(env, cid, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start "
                              "/proc/sys/kernel/shmmni; hostname; cat /proc/self/uid_map")
    lines = out.split("\n")
    assert rc == 0 and lines[:3] == ["80", "2048", "inside-uns"], out
    assert lines[3].split() == ["0", str(HOST_BASE + LEN), str(LEN)]
    # the pod's network (CNI in a netns the pod's user namespace owns) works
    ip = env.call("PodSandboxStatus", pb.PodSandboxStatusRequest(
        pod_sandbox_id=sid)).status.network.ip
    assert ip.startswith("10.88.")
    assert ip in sh(env, cid, "ip -4 addr show eth0")[1]


def test_userns_bad_modes_and_mappings_refused_leaving_nothing(env):
    pb = env.pb
    ok = [(HOST_BASE, 0, LEN)]
    cases = [
        (userns(pb, pb.CONTAINER, ok, ok), "userns_options.mode CONTAINER is not supported"),
        (userns(pb, pb.TARGET, ok, ok), "userns_options.mode TARGET is not supported"),
        (userns(pb, pb.POD, ok + [(HOST_BASE + LEN, LEN, LEN)], ok),
         "mode POD needs exactly one uids and one gids mapping (2 uids, 1 gids given)"),
        (userns(pb, pb.POD, ok, ok + ok), "(1 uids, 2 gids given)"),
        (userns(pb, pb.POD, ok, []), "(1 uids, 0 gids given)"),
        (userns(pb, pb.POD, [(HOST_BASE, 1, LEN)], ok),
         "userns_options.uids[0].container_id 1: the mapping must start at container ID 0"),
        (userns(pb, pb.POD, ok, [(HOST_BASE, 0, 0)]), "userns_options.gids[0].length is 0"),
        (userns(pb, pb.POD, [(4294967295 - 10, 0, LEN)], ok),
         "userns_options.uids[0]: host_id 4294967285 + length 65536 overflows the ID range"),
        (userns(pb, pb.NODE, ok, ok), "mode NODE takes no mappings (1 uids, 1 gids given)"),
    ]
    for u, msg in cases:
        cfg = env.pod_config("bad-uns")
        cfg.linux.security_context.namespace_options.userns_options.CopyFrom(u)
        e = rpc_error(env.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (msg, e.details())
        assert msg in e.details(), e.details()
        assert list(env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items) == []
        assert env.leaks() == []
        nsroot = os.path.join(env.d.run_dir, "ns")
        assert [e for e in os.listdir(nsroot) if e != ".lock"] == [] \
            if os.path.isdir(nsroot) else True
    # host network in a pod user namespace
    cfg = userns_pod_config(env, "bad-uns", host_network=True)
    e = rpc_error(env.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mode POD with network NODE" in e.details()
    # the name was never taken: the same pod runs now
    sid, _ = userns_pod(env, "bad-uns")
    assert [p.id for p in env.call("ListPodSandbox", pb.ListPodSandboxRequest()).items] == [sid]


def test_userns_container_must_match_its_pod(env, host_volume):
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env)
    sc = pb.LinuxContainerSecurityContext(namespace_options=pb.NamespaceOption(
        pid=pb.CONTAINER, userns_options=userns(pb, pb.POD, [(HOST_BASE + 1, 0, LEN)],
                                                [(HOST_BASE, 0, LEN)])))
    e = rpc_error(env.create, pod, env.ctr_config(
        "x", command=SLEEP, linux=pb.LinuxContainerConfig(security_context=sc)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "differ from the pod's" in e.details()
    plain = env.pod("plain")
    sc.namespace_options.userns_options.uids[0].host_id = HOST_BASE
    e = rpc_error(env.create, plain, env.ctr_config(
        "x", command=SLEEP, linux=pb.LinuxContainerConfig(security_context=sc)))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the pod shares the node's user namespace" in e.details()
    # a mount's own mappings: the pod's only, and only in a pod with a user namespace
    m = lambda h: [pb.IDMapping(host_id=h, container_id=0, length=LEN)]
    vol = pb.Mount(host_path=host_volume, container_path="/t", readonly=True,
                   uidMappings=m(HOST_BASE + LEN), gidMappings=m(HOST_BASE))
    e = rpc_error(env.create, pod, env.ctr_config("x", command=SLEEP, mounts=[vol]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.mounts[0].uidMappings/gidMappings differ from the pod's" in e.details()
    e = rpc_error(env.create, plain, env.ctr_config("x", command=SLEEP, mounts=[vol]))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "only in a pod with a user namespace of its own" in e.details()
    assert env.list() == [] and env.leaks(pods=False) == []
    vol.uidMappings[0].host_id = HOST_BASE
    cid = env.run(pod, "same-map", SLEEP, mounts=[vol])
    assert sh(env, cid, "stat -c %u /t")[1] == "0\n"
    # without userns_options (crictl) the container takes the pod's
    cid = env.run(pod, "crictl-like", SLEEP)
    assert sh(env, cid, "cat /proc/self/uid_map")[1].split() == ["0", str(HOST_BASE), str(LEN)]


def test_kubelet_133_pod_with_all_three(env, src_with_submount, host_volume):
    """The CRI requests kubelet 1.33 sends for a pod with hostUsers: false,
    supplementalGroupsPolicy: Strict and a recursiveReadOnly: Enabled volume (see
    docs/pods.md), on the groups image whose /etc/group puts app in 2000 and 3000."""
    pb = env.pb
    require_userns(env)
    env.pull("groups")
    host = HOST_BASE + 2 * LEN
    uns = userns(pb, pb.POD, [(host, 0, LEN)], [(host, 0, LEN)])
    pcfg = env.pod_config("k133")
    psc = pcfg.linux.security_context
    psc.namespace_options.userns_options.CopyFrom(uns)
    psc.supplemental_groups_policy = pb.Strict
    psc.run_as_user.value = 1000
    psc.run_as_group.value = 1000
    psc.supplemental_groups.extend([4000])
    # ids in a sysctl are the pod's: the range must lie in its mapping (the kernel says EINVAL)
    pcfg.linux.sysctls["net.ipv4.ping_group_range"] = "0 65535"
    sid = env.call("RunPodSandbox", pb.RunPodSandboxRequest(config=pcfg)).pod_sandbox_id
    tlog = os.path.join(host_volume, "termination-log")
    open(tlog, "w").close()
    os.chmod(src_with_submount, 0o755)  # app (1000) may enter; the tmpfs under it is 1777
    sc = pb.LinuxContainerSecurityContext(
        namespace_options=pb.NamespaceOption(pid=pb.CONTAINER, userns_options=uns),
        supplemental_groups_policy=pb.Strict, run_as_user=pb.Int64Value(value=1000),
        run_as_group=pb.Int64Value(value=1000), supplemental_groups=[4000],
        capabilities=pb.Capability(drop_capabilities=["ALL"]), no_new_privs=True,
        masked_paths=["/proc/kcore", "/proc/keys"], readonly_paths=["/proc/sys"])
    mounts = [pb.Mount(host_path=src_with_submount, container_path="/config", readonly=True,
                       recursive_read_only=True, propagation=pb.PROPAGATION_PRIVATE),
              pb.Mount(host_path=host_volume, container_path="/data"),
              pb.Mount(host_path=tlog, container_path="/dev/termination-log")]
    cfg = env.ctr_config("app", image="groups", command=SLEEP, mounts=mounts,
                         linux=pb.LinuxContainerConfig(security_context=sc))
    cid = env.call("CreateContainer", pb.CreateContainerRequest(
        pod_sandbox_id=sid, config=cfg, sandbox_config=pcfg)).container_id
    env.start(cid)
    # user namespace: app is 1000 inside, host+1000 outside
    assert sh(env, cid, "cat /proc/self/uid_map")[1].split() == ["0", str(host), str(LEN)]
    assert proc_ids(env.info(cid)["pid"]) == (host + 1000, host + 1000)
    # Strict: no 2000 or 3000 from the image's /etc/group
    assert ids_inside(env, cid) == (1000, 1000, [1000, 4000])
    assert reported(env, cid) == (1000, 1000, [1000, 4000])
    # recursive read-only, on an idmapped volume with an idmapped submount
    rc, _, err = sh(env, cid, "touch /config/sub/x")
    assert rc != 0 and "Read-only file system" in err
    assert sh(env, cid, "stat -c %u /config /config/sub")[1].split() == ["0", "0"]
    # the rootfs is root's inside, and so is the writable hostPath volume's top
    assert sh(env, cid, "stat -c %u / /etc/group /data")[1].split() == ["0", "0", "0"]


def test_userns_pod_survives_a_berthd_crash_and_goes_without_leaks(env, host_volume):
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env, "crash", host=HOST_BASE + 3 * LEN)
    cid = userns_ctr(env, pod, "a", mounts=[pb.Mount(host_path=host_volume,
                                                     container_path="/data")])
    idmap = os.path.join(env.d.run_dir, "c", cid, "idmap")
    assert sorted(os.listdir(idmap))[:1] == ["hostname"] and "m0" in os.listdir(idmap)
    env.d.kill()
    env.c.close()
    env.d.start()
    env.c = env.d.client()
    assert env.state(cid) == pb.CONTAINER_RUNNING
    assert sh(env, cid, "id -u; cat /data/from-host")[1] == "0\nhost\n"
    # a second container of the pod after the restart joins the same user namespace
    b = userns_ctr(env, pod, "b")
    same = lambda t: sh(env, cid, f"readlink /proc/self/ns/{t}")[1] == \
        sh(env, b, f"readlink /proc/self/ns/{t}")[1]
    assert same("user") and same("net")
    env.remove(cid)
    assert not os.path.exists(idmap)
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod[0]))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=pod[0]))
    assert env.leaks() == []
    assert open(os.path.join(host_volume, "from-host")).read() == "host\n"


def test_userns_volume_without_idmapped_mounts_refused_leaving_nothing(env):
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env, "noidmap", host=HOST_BASE + 4 * LEN)
    # procfs can't be idmapped
    e = rpc_error(userns_ctr, env, pod, "p",
                  mounts=[pb.Mount(host_path="/proc/sys", container_path="/hostsys")])
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.details()
    assert "mount '/hostsys'" in e.details() and "does not support idmapped mounts" in \
        e.details()
    assert env.list() == [] and env.leaks(pods=False) == []
    assert os.listdir(os.path.join(env.d.run_dir, "c")) == []


def test_userns_off_when_the_probe_fails(berthd_factory, net, reg, tmp_path):
    """A node where the start-up probe gets no user namespace (here a berth-pinns that
    refuses --uidmap): the handlers say user_namespaces false, verbose Status and the log
    say why, a POD-mode pod is refused naming Status and leaves nothing; other pods run."""
    from conftest import HELPERS, build_dir
    from ctrutil import Env
    lib = tmp_path / "libexec"
    lib.mkdir()
    for name, rel in HELPERS:
        if name != "berth-pinns":
            os.symlink(os.path.join(build_dir(), rel), lib / name)
    real = os.path.join(build_dir(), "libexec", "berth-pinns")
    wrapper = lib / "berth-pinns"
    wrapper.write_text("#!/bin/sh\n# SPDX-License-Identifier: Apache-2.0\n"
                       'case " $* " in *" --uidmap "*) echo "berth-pinns: no user namespaces '
                       'here" >&2; exit 1;; esac\n'
                       f'exec {real} "$@"\n')
    wrapper.chmod(0o755)
    os.chmod(tmp_path, 0o755)
    d = berthd_factory({"libexec_dir": str(lib)}, netns=net)
    e = Env(d, reg)
    try:
        e.pull("busybox")
        pb = e.pb
        st = e.call("Status", pb.StatusRequest(verbose=True))
        assert all(not h.features.user_namespaces for h in st.runtime_handlers)
        assert all(h.features.recursive_read_only_mounts for h in st.runtime_handlers)
        feats = json.loads(st.info["features"])
        assert feats["userNamespaces"] is False
        assert "create a user namespace" in feats["userNamespacesMissing"]
        assert "no user namespaces here" in feats["userNamespacesMissing"]
        assert "user namespaces for pods are off" in d.stderr()
        cfg = userns_pod_config(e, "off")
        err = rpc_error(e.call, "RunPodSandbox", pb.RunPodSandboxRequest(config=cfg))
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "user namespaces are not supported on this node (see Status)" in err.details()
        assert list(e.call("ListPodSandbox", pb.ListPodSandboxRequest()).items) == []
        pod = e.pod("plain")
        cid = e.run(pod, "c", SLEEP)
        assert sh(e, cid, "cat /proc/self/uid_map")[1].split() == ["0", "0", "4294967295"]
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks


def test_userns_image_volume_keeps_its_tree(env):
    """An image volume in a user-namespaced pod: its tree (an overlay, which can't be
    idmapped) is bound as it is, read-only; its files, host root's, show as nobody's
    and can be read where others may."""
    pb = env.pb
    require_userns(env)
    pod = userns_pod(env, "imgvol", host=HOST_BASE + 5 * LEN)
    vol = pb.Mount(container_path="/vol", image=pb.ImageSpec(image=env.image("busybox")),
                   readonly=True)
    cid = userns_ctr(env, pod, "v", mounts=[vol])
    rc, out, _ = sh(env, cid, "cat /vol/etc/motd; stat -c %u /vol/etc/motd")
    assert (rc, out) == (0, "hello\n65534\n")
    rc, _, err = sh(env, cid, "touch /vol/x")
    assert rc != 0 and "Read-only file system" in err
