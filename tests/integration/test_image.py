# SPDX-License-Identifier: Apache-2.0
"""ImageService through berthd (issue 4): pulls from a real docker-registry running in
berthd's network namespace, ListImages / ImageStatus / RemoveImage / ImageFsInfo, failures
with the right gRPC status, and images surviving a restart."""
import json
import os
import shutil
import stat
import tempfile
import threading

import grpc
import pytest

from conftest import Netns, poll
from registry import (AUTH_PASS, AUTH_USER, Registry, SlowProxy, push_all,  # noqa: F401
                      test_images)


@pytest.fixture(scope="module")
def net():
    n = Netns()
    yield n
    n.delete()


def _registry(net, layout, htpasswd=None):
    d = tempfile.mkdtemp(prefix="berth-registry-")
    reg = Registry(d, htpasswd=htpasswd, netns=net.path)
    try:
        reg.start()
    except BaseException:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return reg, d


@pytest.fixture(scope="module")
def reg(net, test_images):  # noqa: F811
    """Anonymous registry in `net` with all test images, busybox:1 also tagged busybox:2."""
    layout, imgs = test_images
    r, d = _registry(net, layout)
    try:
        push_all(r, layout)
        r.push(layout, "busybox", "1", dest_tag="2")
        r.corrupt_blob(imgs["corrupt"]["layers"][0])
        yield r
    finally:
        r.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_reg(net, test_images):  # noqa: F811
    layout, _ = test_images
    r, d = _registry(net, layout, htpasswd=(AUTH_USER, AUTH_PASS))
    try:
        r.push(layout, "busybox", "1")
        yield r
    finally:
        r.stop()
        shutil.rmtree(d, ignore_errors=True)


def pull(d, ref, timeout=120, **auth):
    pb = d.pb
    req = pb.PullImageRequest(image=pb.ImageSpec(image=ref))
    if auth:
        req.auth.CopyFrom(pb.AuthConfig(**auth))
    return d.call("PullImage", req, timeout=timeout).image_ref


def status(d, ref, verbose=False):
    pb = d.pb
    return d.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref),
                                                       verbose=verbose))


def remove(d, ref):
    d.call("RemoveImage", d.pb.RemoveImageRequest(image=d.pb.ImageSpec(image=ref)))


def list_images(d, ref=None, client=None):
    pb = d.pb
    req = pb.ListImagesRequest()
    if ref:
        req.filter.image.image = ref
    return list((client or d).call("ListImages", req).images)


def rpc_error(fn, *args, **kw):
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


def image_dir_entries(d, sub):
    return [n for n in os.listdir(os.path.join(d.state_dir, "image", sub))
            if not n.startswith(".")]


def test_pull_list_status_remove(berthd_factory, net, reg, test_images):  # noqa: F811
    _, imgs = test_images
    d = berthd_factory(netns=net)
    bb = imgs["busybox"]
    ref1, ref2 = f"{reg.host}/test/busybox:1", f"{reg.host}/test/busybox:2"
    assert pull(d, ref1) == bb["config"]
    assert pull(d, ref2) == bb["config"]
    [img] = list_images(d)
    assert img.id == bb["config"]
    assert sorted(img.repo_tags) == [ref1, ref2]
    assert list(img.repo_digests) == [f"{reg.host}/test/busybox@{bb['digest']}"]
    assert img.size == bb["image_size"]
    assert img.uid.value == 0 and img.HasField("uid")
    assert img.spec.image == bb["config"]
    # every way to name it: tag, ID, short ID, repo digest
    hexid = bb["config"][7:]
    for ref in (ref1, bb["config"], hexid[:12], f"{reg.host}/test/busybox@{bb['digest']}"):
        assert status(d, ref).image.id == bb["config"], ref
    info = status(d, ref1, verbose=True).info["info"]
    assert "chainIDs" in info and bb["layers"][0] in info
    # unknown: an empty response, not an error
    assert not status(d, f"{reg.host}/test/busybox:nope").HasField("image")
    assert list_images(d, f"{reg.host}/test/nope:1") == []
    assert [i.id for i in list_images(d, ref2)] == [bb["config"]]
    # one tag of two: the image stays
    remove(d, ref1)
    [img] = list_images(d)
    assert list(img.repo_tags) == [ref2]
    assert image_dir_entries(d, "layers")
    # by ID: gone, with its blobs and layers
    remove(d, bb["config"])
    assert list_images(d) == []
    assert not status(d, ref2).HasField("image")
    assert image_dir_entries(d, "layers") == []
    assert image_dir_entries(d, "blobs/sha256") == []
    remove(d, bb["config"])  # idempotent


def test_pull_multi_layer_and_fs_info(berthd_factory, net, reg, test_images):  # noqa: F811
    _, imgs = test_images
    d = berthd_factory(netns=net)
    fs0 = d.call("ImageFsInfo").image_filesystems[0]
    assert pull(d, f"{reg.host}/test/multi:1") == imgs["multi"]["config"]
    fs1 = d.call("ImageFsInfo").image_filesystems[0]
    assert fs1.used_bytes.value > fs0.used_bytes.value + 1_000_000  # busybox is ~2 MB
    assert fs1.inodes_used.value > fs0.inodes_used.value
    assert fs1.fs_id.mountpoint.startswith("/")
    assert fs1.timestamp > 0
    img = status(d, f"{reg.host}/test/multi:1", verbose=True)
    chains = json.loads(img.info["info"])["chainIDs"]
    assert len(chains) == 3

    def layer(i, p):
        return os.path.join(d.state_dir, "image", "layers", chains[i][7:], "fs", p)

    st = os.lstat(layer(1, "etc/motd"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0  # whiteout
    assert os.getxattr(layer(1, "opt"), "trusted.overlay.opaque") == b"y"
    assert os.stat(layer(0, "bin/busybox")).st_mode & 0o777 == 0o755
    with open(layer(2, "added")) as f:
        assert f.read() == "zstd layer\n"
    assert "pulled layer" in d.stderr()  # progress, at info


def test_pull_failures(berthd_factory, net, reg, auth_reg, test_images):  # noqa: F811
    _, imgs = test_images
    d = berthd_factory(netns=net)
    e = rpc_error(pull, d, f"{reg.host}/test/nope:1")
    assert e.code() == grpc.StatusCode.NOT_FOUND and "UNKNOWN" in e.details()
    e = rpc_error(pull, d, "Not/A Valid:ref")
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    e = rpc_error(pull, d, f"{reg.host}/test/corrupt:1")
    assert e.code() == grpc.StatusCode.INTERNAL and "digest mismatch" in e.details()
    ref = f"{auth_reg.host}/test/busybox:1"
    e = rpc_error(pull, d, ref)
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED
    e = rpc_error(pull, d, ref, username=AUTH_USER, password="wrong")
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED and "HTTP 401" in e.details()
    e = rpc_error(pull, d, "127.0.0.1:1/test/busybox:1")
    assert e.code() == grpc.StatusCode.UNAVAILABLE and "127.0.0.1:1" in e.details()
    # nothing half-done is visible
    assert list_images(d) == []
    assert image_dir_entries(d, "layers") == []
    assert pull(d, ref, username=AUTH_USER, password=AUTH_PASS) == imgs["busybox"]["config"]
    assert "s3cret" not in d.stderr()  # credentials are never logged


def test_mirror_and_manifest_list(berthd_factory, net, reg, test_images):  # noqa: F811
    _, imgs = test_images
    d = berthd_factory({"registries": {"docker.io": {"mirrors": [f"http://{reg.host}"]}}},
                       netns=net)
    amd64 = imgs["list"]["platforms"]["amd64"]
    assert pull(d, "test/list:1") == amd64["config"]
    [img] = list_images(d)
    assert list(img.repo_tags) == ["docker.io/test/list:1"]
    assert list(img.repo_digests) == [f"docker.io/test/list@{imgs['list']['digest']}"]
    assert status(d, "docker.io/test/list:1").image.id == amd64["config"]


def test_images_survive_restart(berthd_factory, net, reg, test_images):  # noqa: F811
    _, imgs = test_images
    d = berthd_factory(netns=net)
    ref = f"{reg.host}/test/busybox:1"
    pull(d, ref)
    before = list_images(d)
    d.restart()
    c = d.client()

    def listed():
        # gRPC shares subchannels between channels: the first call may still meet the
        # connection to the old process (UNAVAILABLE) before it reconnects
        try:
            return list_images(d, client=c) or True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            return None

    after = poll(listed, 10, "ListImages after restart")
    assert [(i.id, list(i.repo_tags), list(i.repo_digests), i.size) for i in after] == \
        [(i.id, list(i.repo_tags), list(i.repo_digests), i.size) for i in before]
    pb = d.pb
    st = c.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=ref)))
    assert st.image.id == imgs["busybox"]["config"]
    # still complete on disk: pulling again gives the same image
    r = c.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref)), timeout=120)
    assert r.image_ref == imgs["busybox"]["config"]
    c.call("RemoveImage", pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)))
    assert list_images(d, client=c) == []


def children(pid):
    """(pid, comm, cmdline) of the live children of pid."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids = f.read().split()
        except FileNotFoundError:
            continue
        for k in kids:
            try:
                with open(f"/proc/{k}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{k}/cmdline", "rb") as f:
                    cmdline = f.read().split(b"\0")
            except FileNotFoundError:
                continue
            out.append((int(k), comm, cmdline))
    return out


def pull_helpers(d):
    return [c for c in children(d.pid) if c[1] == "berth-pull"]


def test_pulls_run_in_berth_pull(berthd_factory, net, auth_reg, test_images):  # noqa: F811
    """berthd maps neither libcurl nor libarchive: each pull runs in a berth-pull child that
    gets the credentials on stdin (never on its command line) and is gone afterwards."""
    d = berthd_factory(netns=net)
    with open(f"/proc/{d.pid}/maps") as f:
        maps = f.read()
    assert "/libberth" not in maps
    for lib in ("libcurl", "libarchive", "libgnutls", "libxml2"):
        assert lib not in maps, lib
    proxy = SlowProxy(auth_reg.host, delay=0.02, netns=net.path).start()
    seen = []
    try:
        done = []
        t = threading.Thread(target=lambda: done.append(
            pull(d, f"{proxy.host}/test/busybox:1", username=AUTH_USER, password=AUTH_PASS)))
        t.start()
        poll(lambda: seen.extend(pull_helpers(d)) or seen or done, 20, "a berth-pull child")
        t.join(120)
        assert done == [test_images[1]["busybox"]["config"]]
    finally:
        proxy.stop()
    assert seen, "the pull ran without a berth-pull child"
    for _, _, cmdline in seen:
        assert cmdline[0].endswith(b"berth-pull")
        assert AUTH_PASS.encode() not in b" ".join(cmdline)
    assert AUTH_PASS not in d.stderr()
    assert "pulled layer" in d.stderr()  # the helper's progress reaches berthd's log
    poll(lambda: not pull_helpers(d), 10, "berth-pull to be reaped")


def test_concurrent_pulls_share_blobs(berthd_factory, net, test_images):  # noqa: F811
    """Two PullImage calls of one image at once (two berth-pull processes) both succeed and
    fetch each blob from the registry once."""
    layout, imgs = test_images
    r, rdir = _registry(net, layout)
    d = berthd_factory(netns=net)
    try:
        r.push(layout, "multi", "1")
        proxy = SlowProxy(r.host, delay=0.01, netns=net.path).start()
        try:
            out, errs = [], []

            def one():
                try:
                    out.append(pull(d, f"{proxy.host}/test/multi:1"))
                except grpc.RpcError as e:
                    errs.append(e)
            ts = [threading.Thread(target=one) for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(120)
        finally:
            proxy.stop()
        assert errs == []
        assert out == [imgs["multi"]["config"]] * 2
        for digest in imgs["multi"]["layers"] + [imgs["multi"]["config"]]:
            gets = r.log().count(f'"GET /v2/test/multi/blobs/{digest} ')
            assert gets == 1, (digest, gets)
    finally:
        r.stop()
        shutil.rmtree(rdir, ignore_errors=True)


def test_pull_cancelled_by_deadline(berthd_factory, net, reg, test_images):  # noqa: F811
    """A pull whose client deadline passes is cancelled in berthd and leaves nothing."""
    d = berthd_factory(netns=net)
    proxy = SlowProxy(reg.host, delay=0.05, netns=net.path).start()  # busybox: ~3 s
    try:
        e = rpc_error(pull, d, f"{proxy.host}/test/busybox:1", timeout=0.5)
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # the handler notices, cancels the transfers and reports; then nothing is left
        poll(lambda: "method=PullImage" in d.stderr() and "DEADLINE_EXCEEDED" in d.stderr(),
             20, "berthd to end the cancelled pull")
    finally:
        proxy.stop()
    poll(lambda: not pull_helpers(d), 10, "the cancelled berth-pull to be reaped")
    assert list_images(d) == []
    assert image_dir_entries(d, "layers") == []
    for sub in ("layers", "blobs/sha256"):
        left = [n for n in os.listdir(os.path.join(d.state_dir, "image", sub))
                if n.startswith(".tmp-")]
        assert left == [], sub
    # and a later pull of the same image works
    assert pull(d, f"{reg.host}/test/busybox:1") == test_images[1]["busybox"]["config"]
