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
        shutil.rmtree(d, ignore_errors=True)


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
