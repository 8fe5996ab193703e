# SPDX-License-Identifier: Apache-2.0
"""Image volumes (issue 11, KEP-4639): a Mount with `image` is that image's root filesystem
mounted read-only (and noexec) in the container, from one tree per image on the host
(<run_dir>/imgvol/<hex>) shared by every container mounting it. Real runc containers in
real pods, images from a docker-registry in berthd's network namespace; every test ends
with the leak check of ctrutil.Env.cleanup (no mount, shim, runc container or bundle
left), which also covers the image volume trees."""
import os
import shutil
import tempfile

import grpc
import pytest
from google.protobuf import json_format

from ctrutil import env, mountpoints_under, net, reg  # noqa: F401
from registry import Layout, test_images  # noqa: F401

SLEEP = ["sh", "-c", "exec sleep 1000"]


@pytest.fixture(scope="module")
def volx(reg):
    """volx:1, two layers: data/{file,sub/f}, then a plain file, a symlink climbing out of
    the image (up), an absolute one (abs) and one inside it (inside -> data/sub)."""
    d = tempfile.mkdtemp(prefix="berth-volx-")
    try:
        lay = Layout(os.path.join(d, "layout"))
        l1 = lay.layer([("data", "dir", None, 0o755), ("data/file", "file", b"x\n", 0o644),
                        ("data/sub", "dir", None, 0o755),
                        ("data/sub/f", "file", b"f\n", 0o644)])
        l2 = lay.layer([("plain", "file", b"p\n", 0o644),
                        ("up", "symlink", "../../../../../../etc", 0o777),
                        ("abs", "symlink", "/data", 0o777),
                        ("inside", "symlink", "data/sub", 0o777)])
        lay.tag(lay.image([l1, l2]), "volx-1")
        lay.finish()
        reg.push(lay.path, "volx", "1")
        yield "volx"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def rpc_error(fn, *a, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*a, **kw)
    return ei.value


def vol(env, image, path="/data", **kw):
    return env.pb.Mount(container_path=path, image=env.pb.ImageSpec(image=env.image(image)),
                        **kw)


def trees(env):
    """Image volume trees mounted on the host."""
    return mountpoints_under(os.path.join(env.d.run_dir, "imgvol"))


def out(env, cid, script):
    r = env.exec(cid, ["sh", "-c", script])
    return r.stdout.decode() + r.stderr.decode()


def image_entry(env, ref):
    for img in env.call("ListImages", env.pb.ListImagesRequest()).images:
        if ref in img.repo_tags:
            return img
    return None


def assert_nothing_left(env):
    assert env.list() == []
    assert trees(env) == []
    assert env.leaks(pods=False) == []


def test_image_volume_reads_and_is_read_only(env):
    """The CRI JSON form as newer crictl sends it runs: a three-layer image (an overlay:
    whiteout and opaque dir applied) at /data and a one-layer image (a bind) at /one, both
    listed and read, neither writable nor executable; ContainerStatus shows them with their
    images; ListImages keeps the image's entry as it was; removal leaves no tree."""
    pb = env.pb
    env.pull("multi")
    before = image_entry(env, env.image("multi"))
    pod = env.pod()
    cfg = json_format.ParseDict({
        "metadata": {"name": "vol"}, "image": {"image": env.image("busybox")},
        "command": SLEEP, "log_path": "vol/0.log",
        "mounts": [{"container_path": "/data", "image": {"image": env.image("multi")}},
                   {"container_path": "/one", "image": {"image": env.image("busybox")},
                    "readonly": False}],
    }, pb.ContainerConfig())
    cid = env.create(pod, cfg)
    env.start(cid)
    assert out(env, cid, "ls /data; ls /data/opt") == "added\nbin\netc\nopt\nb\n"
    assert out(env, cid, "cat /data/added; test -e /data/etc/motd || echo gone") == \
        "zstd layer\ngone\n"
    assert out(env, cid, "cat /one/etc/motd /one/opt/a") == "hello\na\n"
    for d in ("/data", "/one"):
        assert "Read-only file system" in out(env, cid, f"touch {d}/new 2>&1; mkdir {d}/x 2>&1")
        # noexec: the image's busybox can't be run from the volume
        assert out(env, cid, f"{d}/bin/busybox true 2>/dev/null; echo rc=$?") == "rc=126\n"
    mounts = {m.container_path: m for m in env.status(cid).status.mounts}
    assert mounts["/data"].image.image == env.image("multi")
    assert mounts["/one"].image.image == env.image("busybox")
    assert mounts["/data"].readonly and mounts["/one"].readonly  # forced
    assert len(trees(env)) == 2
    assert image_entry(env, env.image("multi")) == before

    env.remove(cid)
    assert_nothing_left(env)
    assert image_entry(env, env.image("multi")) == before


def test_image_sub_path(env, volx):
    """image_sub_path mounts only that directory (also through a symlink inside the
    image); a missing path, '..', a symlink climbing out, an absolute symlink and a plain
    file are refused with INVALID_ARGUMENT, and nothing of those creates is left."""
    env.pull(volx)
    pod = env.pod()
    cid = env.create(pod, env.ctr_config("sub", command=SLEEP, mounts=[
        vol(env, volx, image_sub_path="data"),
        vol(env, volx, "/in", image_sub_path="inside")]))
    env.start(cid)
    assert out(env, cid, "ls /data; ls /in") == "file\nsub\nf\n"
    assert out(env, cid, "cat /data/sub/f") == "f\n"
    env.remove(cid)
    assert_nothing_left(env)

    for sub, what in (("missing", "does not exist"), ("data/nothere", "does not exist"),
                      ("../etc", "has a '..' component"), ("data/../..", "'..'"),
                      ("up", "escapes the image"), ("abs", "escapes the image"),
                      ("/data", "is not a relative path"), ("plain", "not a directory")):
        cfg = env.ctr_config("bad", command=SLEEP, mounts=[vol(env, volx, image_sub_path=sub)])
        e = rpc_error(env.create, pod, cfg)
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, (sub, e.details())
        assert what in e.details() and sub in e.details(), e.details()
        assert_nothing_left(env)
    # the name was released each time
    cid = env.create(pod, env.ctr_config("bad", command=SLEEP, mounts=[vol(env, volx)]))
    env.remove(cid)
    assert_nothing_left(env)


def test_image_volume_fields_refused(env):
    """An image not pulled is NOT_FOUND naming it; SELinux relabel, propagation other than
    private and a host_path beside the image are INVALID_ARGUMENT; nothing is left."""
    pb = env.pb
    pod = env.pod()
    cases = [
        (vol(env, "nothere"), grpc.StatusCode.NOT_FOUND, f"image '{env.image('nothere')}'"),
        (vol(env, "busybox", selinux_relabel=True), grpc.StatusCode.INVALID_ARGUMENT,
         "selinux_relabel"),
        (vol(env, "busybox", propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
         grpc.StatusCode.INVALID_ARGUMENT, "PROPAGATION_PRIVATE"),
        (vol(env, "busybox", propagation=pb.PROPAGATION_BIDIRECTIONAL),
         grpc.StatusCode.INVALID_ARGUMENT, "PROPAGATION_BIDIRECTIONAL"),
        (vol(env, "busybox", host_path="/tmp"), grpc.StatusCode.INVALID_ARGUMENT,
         "host_path"),
        (pb.Mount(container_path="/data", host_path="/tmp", image_sub_path="x"),
         grpc.StatusCode.INVALID_ARGUMENT, "no image"),
    ]
    for m, code, what in cases:
        e = rpc_error(env.create, pod, env.ctr_config("bad", command=SLEEP, mounts=[m]))
        assert e.code() == code, e.details()
        assert what in e.details() and "/data" in e.details(), e.details()
        assert_nothing_left(env)


def files_named(top, name):
    """(dev, inode) of every file called name under top, not descending into mounts."""
    found = set()
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(dirpath, d))]
        for f in files:
            if f == name:
                st = os.lstat(os.path.join(dirpath, f))
                found.add((st.st_dev, st.st_ino))
    return found


def test_fifty_containers_share_one_copy(env):
    """The same image mounted into 50 containers is on disk once: ImageFsInfo's image
    filesystem is unchanged, the image's one file /added exists as one inode on disk, and
    the host has one tree mount for the image, bound in every container's mount
    namespace; the containers read it."""
    pb = env.pb
    env.pull("multi")
    fs0 = env.call("ImageFsInfo", pb.ImageFsInfoRequest()).image_filesystems[0]
    on_disk0 = files_named(env.d.root, "added")
    assert len(on_disk0) == 1
    pod = env.pod()
    ids = [env.create(pod, env.ctr_config(f"c{i}", command=SLEEP,
                                           mounts=[vol(env, "multi")])) for i in range(50)]
    for cid in ids:  # each one's mount namespace (its init waits in `runc create`) has it
        with open(f"/proc/{env.info(cid)['pid']}/mountinfo") as f:
            assert [l for l in f if l.split()[4] == "/data"], cid
    for cid in ids[:3]:
        env.start(cid)
        assert out(env, cid, "cat /data/added") == "zstd layer\n"
    assert len(trees(env)) == 1
    fs1 = env.call("ImageFsInfo", pb.ImageFsInfoRequest()).image_filesystems[0]
    assert (fs1.used_bytes.value, fs1.inodes_used.value) == \
        (fs0.used_bytes.value, fs0.inodes_used.value)
    assert files_named(env.d.root, "added") == on_disk0
    for cid in ids[:-1]:
        env.remove(cid)
    assert len(trees(env)) == 1  # one holder left
    env.remove(ids[-1])
    assert_nothing_left(env)


def test_remove_image_mounted_as_volume(env):
    """RemoveImage of an image mounted as a volume is FAILED_PRECONDITION naming the
    container; once the container is removed the image goes."""
    pb = env.pb
    ref = env.pull("multi")
    pod = env.pod()
    cid = env.run(pod, "v", SLEEP, mounts=[vol(env, "multi")])
    e = rpc_error(env.call, "RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
    assert cid[:12] in e.details() and "volume" in e.details()
    assert env.call("ImageStatus", pb.ImageStatusRequest(
        image=pb.ImageSpec(image=ref))).image.repo_tags == [ref]
    assert out(env, cid, "cat /data/added") == "zstd layer\n"
    env.remove(cid)
    env.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    assert not env.call("ImageStatus", pb.ImageStatusRequest(
        image=pb.ImageSpec(image=ref))).HasField("image")
    assert_nothing_left(env)


def test_sigkill_restart_keeps_image_volumes(env):
    """berthd killed with SIGKILL and restarted: the running container still reads its
    volume, the tree is still mounted and still held (RemoveImage refused, a second
    container shares it), and removing both containers unmounts it."""
    pb = env.pb
    ref = env.pull("multi")
    pod = env.pod()
    cid = env.run(pod, "v", SLEEP, mounts=[vol(env, "multi")])
    mounted = trees(env)
    assert len(mounted) == 1
    env.d.kill()
    env.c.close()  # its connection died with the killed berthd
    env.d.start()
    env.c = env.d.client()
    assert out(env, cid, "cat /data/added") == "zstd layer\n"
    assert trees(env) == mounted
    e = rpc_error(env.call, "RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and cid[:12] in e.details()
    cid2 = env.run(pod, "v2", SLEEP, mounts=[vol(env, "multi")])
    assert trees(env) == mounted
    assert out(env, cid2, "cat /data/added") == "zstd layer\n"
    env.remove(cid)
    assert trees(env) == mounted
    assert out(env, cid2, "cat /data/added") == "zstd layer\n"
    env.remove(cid2)
    assert_nothing_left(env)
    env.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
