# SPDX-License-Identifier: Apache-2.0
"""A short soak (tests/integration/soak.py; long runs are bench/soak_bench.py): 8 clients
run full lifecycles against one berthd for BERTH_SOAK_SECONDS (default 30); berthd's fds
and threads and the node's mounts, processes and cgroups of its pods are the same at the
end as at the start, every lifecycle succeeded and nothing is left."""
import os

import soak
from ctrutil import env, net, reg  # noqa: F401 (fixtures)
from registry import test_images  # noqa: F401 (fixture)


def test_soak_counts_flat(env):
    seconds = float(os.environ.get("BERTH_SOAK_SECONDS", "30"))
    start, end, n = soak.run(env, seconds, clients=8)
    print(f"soak: {n} lifecycles in {seconds:.0f} s; start {start}; end {end}")
    assert n >= 8, n  # every client got through at least one lifecycle
    flat = {k: (start[k], end[k]) for k in soak.FLAT if start[k] != end[k]}
    assert flat == {}, flat
    # between lifecycles nothing of a pod remains: no mount, process or cgroup of one
    assert (end["mounts"], end["processes"], end["cgroups"]) == (start["mounts"],
                                                                 start["processes"], 0)
