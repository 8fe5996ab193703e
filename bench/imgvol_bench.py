#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Image volumes: one overlay per mount against one shared tree bound into each mount.

  sudo bench/imgvol_bench.py [--n 100] [--layers 3] [--files 2000] [--build DIR --ctrs 50]

(a) The kernel side, no berthd: a synthetic image of --layers layer dirs holding --files
    files, mounted --n times at once, two ways:
      per-mount overlay  --n read-only overlays of the layers (what a runtime does when
                         every image volume gets its own overlay with no upper dir);
      shared tree        one read-only overlay, and --n read-only binds of it (berth's way:
                         <run_dir>/imgvol/<hex>, bound into each container by runc).
    For each: time to mount all, time to stat every file through every mount, the kernel's
    overlay inode objects (ovl_inode in /proc/slabinfo) and Slab memory those walks left
    (machine-wide counters: other work on the machine adds noise, small beside these),
    mounts added to the mount table, time to unmount all.
(b) With --build: a berthd of DIR (tests/integration/registry.py's multi image, three
    layers) and --ctrs containers created in one pod with the image at /data, beside as
    many without it: CreateContainer median and p95, host mounts of image volume trees,
    ImageFsInfo's image filesystem before and after, bytes under the state dir.
Numbers are reported, never judged: this is not a test.
"""
import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

MS_RDONLY, MS_REMOUNT, MS_BIND, MNT_DETACH = 1, 32, 4096, 2
libc = ctypes.CDLL("libc.so.6", use_errno=True)


def mount(src, target, fstype, flags, data=None):
    if libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None,
                  ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} on {target}: {os.strerror(e)}")


def umount(target):
    if libc.umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def slab(name):
    with open("/proc/slabinfo") as f:
        for line in f:
            if line.startswith(name + " "):
                return int(line.split()[1])
    return 0


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def n_mounts(top):
    """Mounts at or under top (other processes' mounts come and go meanwhile)."""
    with open("/proc/self/mountinfo") as f:
        return sum(1 for line in f if line.split()[4].startswith(top))


def settle():
    """Waits (up to 10 s) until the overlay inode count stops moving."""
    last = slab("ovl_inode")
    for _ in range(50):
        time.sleep(0.2)
        now = slab("ovl_inode")
        if abs(now - last) < 200:
            return
        last = now


def make_layers(top, n_layers, n_files):
    layers = []
    per = max(1, n_files // n_layers)
    for i in range(n_layers):
        d = os.path.join(top, f"layer{i}")
        for k in range(per):
            sub = os.path.join(d, f"d{k % 20}")
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{i}-{k}"), "w") as f:
                f.write("x")
        layers.append(d)
    return layers


def walk(path):
    n = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            os.stat(os.path.join(dirpath, f))
            n += 1
    return n


def kernel_side(tmp, n, layers, shared):
    lower = ":".join(reversed(layers))
    targets = [os.path.join(tmp, "m", f"{'s' if shared else 'o'}{i}") for i in range(n)]
    for t in targets:
        os.makedirs(t)
    tree = os.path.join(tmp, "tree")
    os.makedirs(tree, exist_ok=True)
    m0, ovl0, slab0 = n_mounts(tmp), slab("ovl_inode"), meminfo_kb("Slab")
    t0 = time.perf_counter()
    if shared:
        mount("overlay", tree, "overlay", MS_RDONLY, f"lowerdir={lower}")
        for t in targets:
            mount(tree, t, None, MS_BIND)
            mount("none", t, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    else:
        for t in targets:
            mount("overlay", t, "overlay", MS_RDONLY, f"lowerdir={lower}")
    t_mount = time.perf_counter() - t0
    t0 = time.perf_counter()
    files = sum(walk(t) for t in targets)
    t_walk = time.perf_counter() - t0
    out = {"mount_ms": t_mount * 1000, "walk_ms": t_walk * 1000, "files": files,
           "ovl_inodes": slab("ovl_inode") - ovl0, "slab_kb": meminfo_kb("Slab") - slab0,
           "mounts": n_mounts(tmp) - m0}
    t0 = time.perf_counter()
    for t in targets:
        umount(t)
    if shared:
        umount(tree)
    out["umount_ms"] = (time.perf_counter() - t0) * 1000
    return out


def report_kernel(a):
    tmp = tempfile.mkdtemp(prefix="berth-imgvol-bench-", dir="/var/tmp")
    try:
        layers = make_layers(tmp, a.layers, a.files)
        print(f"(a) {a.n} mounts of one image ({a.layers} layers, {a.files} files)")
        print(f"{'':<20} {'mount ms':>9} {'walk ms':>9} {'umount ms':>9} {'ovl_inode':>10} "
              f"{'Slab kB':>8} {'mounts':>7}")
        # the shared tree first: the other's teardown frees ~200,000 inodes for a while
        for shared in (True, False):
            settle()
            r = kernel_side(tmp, a.n, layers, shared)
            name = "shared tree + binds" if shared else "per-mount overlay"
            print(f"{name:<20} {r['mount_ms']:9.1f} {r['walk_ms']:9.1f} {r['umount_ms']:9.1f} "
                  f"{r['ovl_inodes']:10d} {r['slab_kb']:8d} {r['mounts']:7d}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ms(v):
    v = sorted(v)
    return f"{statistics.median(v) * 1000:7.1f} {v[int(round(0.95 * (len(v) - 1)))] * 1000:7.1f}"


def du_bytes(path):
    out = subprocess.run(["du", "-sxB1", path], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


def report_berthd(a):
    from cri_bench import Bench
    b = Bench(a.build)
    try:
        b.start()
        b.reg.push(os.path.join(b.tmp, "layout"), "multi", "1")
        pb = b.pb
        vol = f"{b.reg.host}/test/multi:1"
        b.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=vol)))
        pod = b.run_pod("bench")
        fs0 = b.call("ImageFsInfo", pb.ImageFsInfoRequest()).image_filesystems[0]
        state0 = du_bytes(os.path.join(b.tmp, "state", "image"))
        times = {False: [], True: []}
        ids = []
        for i in range(a.ctrs):
            for with_vol in (i % 2 == 0, i % 2 != 0):  # alternate the order
                cfg = pb.ContainerConfig(
                    metadata=pb.ContainerMetadata(name=f"{'v' if with_vol else 'p'}{i}"),
                    image=pb.ImageSpec(image=b.image), command=["sh", "-c", "exec sleep 1d"],
                    log_path=f"c{i}.log",
                    mounts=[pb.Mount(container_path="/data", image=pb.ImageSpec(image=vol))]
                    if with_vol else [])
                t0 = time.perf_counter()
                ids.append(b.call("CreateContainer", pb.CreateContainerRequest(
                    pod_sandbox_id=pod[0], config=cfg, sandbox_config=pod[1])).container_id)
                times[with_vol].append(time.perf_counter() - t0)
        trees = [m for m in open("/proc/self/mountinfo").read().split("\n")
                 if os.path.join(b.run_dir, "imgvol") in m]
        fs1 = b.call("ImageFsInfo", pb.ImageFsInfoRequest()).image_filesystems[0]
        print(f"\n(b) berthd: {a.ctrs} containers with multi:1 at /data and {a.ctrs} without "
              "(CreateContainer ms: median p95)")
        print(f"with the image volume    {ms(times[True])}")
        print(f"without                  {ms(times[False])}")
        print(f"host mounts of image volume trees: {len(trees)}")
        print(f"ImageFsInfo image fs: {fs0.used_bytes.value} -> {fs1.used_bytes.value} bytes, "
              f"{fs0.inodes_used.value} -> {fs1.inodes_used.value} inodes; "
              f"du state/image {state0} -> {du_bytes(os.path.join(b.tmp, 'state', 'image'))}")
        for cid in ids:
            b.remove_c(cid)
        b.stop_pod(pod[0])
        b.remove_pod(pod[0])
    finally:
        b.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--build")
    ap.add_argument("--ctrs", type=int, default=50)
    a = ap.parse_args()
    report_kernel(a)
    if a.build:
        report_berthd(a)


if __name__ == "__main__":
    main()
