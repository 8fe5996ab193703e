#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Soak: 8 parallel clients run full lifecycles (pod with a bridge network, container,
ExecSync, its log read and reopened, stop, remove) against one berthd for --seconds
(default 1800) and the counts of berthd and the node are printed at the start and the end:
berthd's fds, threads and RSS; the mounts, processes and cgroups of its pods; the node's
process count. The load is tests/integration/soak.py's, which test_soak.py runs briefly.

sudo /usr/bin/python3 bench/soak_bench.py --build build-release [--seconds 1800]
    [--clients 8]

Use a non-sanitizer build: ASan's quarantine grows RSS by design."""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    os.environ["BERTH_BUILD"] = os.path.abspath(a.build)

    import criapi  # noqa: E402
    import soak  # noqa: E402
    from conftest import Berthd, Netns  # noqa: E402
    from ctrutil import Env  # noqa: E402
    from registry import Registry, build_images  # noqa: E402

    tmp = tempfile.mkdtemp(prefix="berth-soak-", dir="/tmp")
    net = Netns()
    reg = d = env = None
    try:
        pb = criapi.generate(tmp)
        layout = os.path.join(tmp, "layout")
        build_images(layout)
        os.makedirs(os.path.join(tmp, "registry"))
        reg = Registry(os.path.join(tmp, "registry"), netns=net.path)
        reg.start()
        reg.push(layout, "busybox", "1")
        root = os.path.join(tmp, "b")
        os.makedirs(root)
        d = Berthd(pb, root, {"log_level": "warn", "workers": 8}, net)
        d.start()
        env = Env(d, reg)
        env.pull("busybox")
        start, end, n = soak.run(env, a.seconds, clients=a.clients, report=print)
        print(f"\n{n} lifecycles by {a.clients} clients in {a.seconds:.0f} s "
              f"({n / a.seconds:.2f}/s)")
        print(f"{'':<16} {'start':>10} {'end':>10}")
        for k in start:
            print(f"{k:<16} {start[k]:>10} {end[k]:>10}")
    finally:
        if env:
            leaks = env.cleanup()
            if leaks:
                print("LEFT:", leaks)
        if d:
            d.close()
        if reg:
            reg.stop()
        net.delete()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
