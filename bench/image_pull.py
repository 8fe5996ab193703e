#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Pull + unpack benchmark (issue 4): a ~100 MB, 5-layer image from a local docker-registry.

Times berth's image/ (bench/image_pull: pull, verify, store blobs, unpack every layer) against
`skopeo copy docker://... oci:DIR` + `umoci unpack` of the same image in the same run, each
into fresh directories, and prints the medians and berth/theirs (target <= 0.8).
Usage: bench/image_pull.py [--runs N] [--build DIR]   (root: umoci and the unpack need it)
Never pass/fail: it reports numbers."""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import registry as reg_mod  # noqa: E402


def make_big_image(layout):
    """5 layers, ~100 MB unpacked: per layer many files, half random (incompressible) and
    half text-like, as real images mix binaries and text."""
    lay = reg_mod.Layout(layout)
    rnd = random.Random(4)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(2000)]
    layers = []
    for li in range(5):
        entries = [(f"l{li}", "dir", None, 0o755)]
        for fi in range(200):
            size = 100 * 1024
            if fi % 2:
                data = os.urandom(size)
            else:
                data = b" ".join(rnd.choice(words) for _ in range(size // 6))[:size]
            entries.append((f"l{li}/f{fi}", "file", data, 0o644))
        layers.append(lay.layer(entries))
    img = lay.image(layers)
    lay.tag(img, "big-1")
    lay.finish()
    return img


def timed(argv, **kw):
    t0 = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, **kw)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.environ.get("BERTH_BUILD", "build"))
    args = ap.parse_args()
    prog = os.path.join(os.path.abspath(args.build), "bench", "image_pull")
    work = tempfile.mkdtemp(prefix="berth-bench-image-")
    reg = reg_mod.Registry(os.path.join(work, "registry"))
    os.makedirs(reg.dir)
    try:
        img = make_big_image(os.path.join(work, "layout"))
        reg.start()
        reg.push(os.path.join(work, "layout"), "big", "1")
        ref = f"{reg.host}/test/big:1"
        print(f"image: {ref} compressed {img['image_size'] / 1e6:.1f} MB, 5 layers")
        berth, theirs = [], []
        for i in range(args.runs):
            root = os.path.join(work, f"berth{i}")
            berth.append(timed([prog, root, ref]))
            shutil.rmtree(root)
            oci = os.path.join(work, f"oci{i}")
            bundle = os.path.join(work, f"bundle{i}")
            t = timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                       f"docker://{ref}", f"oci:{oci}:big"])
            t += timed(["umoci", "unpack", "--image", f"{oci}:big", bundle])
            theirs.append(t)
            shutil.rmtree(oci)
            shutil.rmtree(bundle)
        b, s = statistics.median(berth), statistics.median(theirs)
        print(f"berth image_pull         median {b:.3f}s  runs {' '.join(f'{x:.3f}' for x in berth)}")
        print(f"skopeo copy+umoci unpack median {s:.3f}s  runs {' '.join(f'{x:.3f}' for x in theirs)}")
        print(f"ratio berth/theirs {b / s:.2f} (target <= 0.80)")
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
