# SPDX-License-Identifier: Apache-2.0
"""CRI metrics RPCs (ListMetricDescriptors, ListPodSandboxMetrics,
StreamPodSandboxMetrics) on real containers: the values checked against the cgroup
files of a container that burns CPU and holds memory, the pod's interface counters
moving with traffic in its network namespace, and the stream answering what the
list answers.

Every test ends with the leak check of the container tests (ctrutil.Env.cleanup)."""
import os

from conftest import poll
from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

MIB = 1 << 20
SLEEP = ["sh", "-c", "exec sleep 1000"]
GATEWAY = "10.88.0.1"  # the bridge of ctrutil.bridge_conflist (isGateway)
BASE_KEYS = ["container", "id", "image", "name", "namespace", "pod"]
CG = "/sys/fs/cgroup"
V1 = os.path.isdir(os.path.join(CG, "cpuacct"))  # v1 or hybrid: runc uses v1 controllers


def descriptors(env):
    d = env.call("ListMetricDescriptors", env.pb.ListMetricDescriptorsRequest()).descriptors
    return {x.name: x for x in d}


def list_metrics(env):
    req = env.pb.ListPodSandboxMetricsRequest()
    return list(env.call("ListPodSandboxMetrics", req).pod_metrics)


def by_name(metrics, keys):
    """{name: {labels tuple after the base keys: (type, value)}} and the base labels."""
    out, base = {}, set()
    for m in metrics:
        labels = dict(zip(keys[m.name], m.label_values))
        base.add(tuple(labels[k] for k in BASE_KEYS))
        extra = tuple(m.label_values[len(BASE_KEYS):])
        out.setdefault(m.name, {})[extra] = (m.metric_type, m.value.value)
    return out, base


def check_consistent(env, pods):
    """Every name used is described, label values match the keys, each name has one
    type, and counters end in _total (cAdvisor's naming but for failcnt and fs_inodes_total)."""
    descs = descriptors(env)
    types = {}
    for p in pods:
        for m in list(p.metrics) + [m for c in p.container_metrics for m in c.metrics]:
            assert m.name in descs, m.name
            assert len(m.label_values) == len(descs[m.name].label_keys), m
            assert m.timestamp > 0
            assert m.HasField("value")
            assert types.setdefault(m.name, m.metric_type) == m.metric_type, m.name
    for name, t in types.items():
        if (name.endswith("_total") and name != "container_fs_inodes_total") or \
                name == "container_memory_failcnt":
            assert t == env.pb.COUNTER, name
        else:
            assert t == env.pb.GAUGE, name
    return {n: list(d.label_keys) for n, d in descs.items()}


def cg_read(ctrl, rel, name):
    path = os.path.join(CG, ctrl, rel.lstrip("/"), name) if V1 else \
        os.path.join(CG, rel.lstrip("/"), name)
    with open(path) as f:
        return f.read()


def cg_u64(ctrl, rel, name):
    return int(cg_read(ctrl, rel, name).split()[0])


def cg_keyed(ctrl, rel, name):
    return {k: int(v) for k, v in (line.split() for line in cg_read(ctrl, rel, name).splitlines())}


def cpu_usage_ns(rel):
    if V1:
        return cg_u64("cpuacct", rel, "cpuacct.usage")
    return cg_keyed("", rel, "cpu.stat")["usage_usec"] * 1000


def cpu_periods(rel):
    return cg_keyed("cpu", rel, "cpu.stat")["nr_periods"]


def ctr_of(env, cid):
    for p in list_metrics(env):
        for c in p.container_metrics:
            if c.container_id == cid:
                return p, c
    return None, None


def test_descriptors_fixed_and_cadvisor_named(env):
    d1 = env.call("ListMetricDescriptors", env.pb.ListMetricDescriptorsRequest()).descriptors
    d2 = env.call("ListMetricDescriptors", env.pb.ListMetricDescriptorsRequest()).descriptors
    assert list(d1) == list(d2)
    names = [d.name for d in d1]
    assert len(names) == len(set(names))
    for d in d1:
        assert d.name.startswith("container_") and d.help, d
        assert list(d.label_keys[:6]) == BASE_KEYS, d
    descs = {d.name: list(d.label_keys[6:]) for d in d1}
    # the set the issue names, with cAdvisor's extra label keys
    want = {
        "container_cpu_usage_seconds_total": ["cpu"],
        "container_cpu_user_seconds_total": [], "container_cpu_system_seconds_total": [],
        "container_cpu_cfs_periods_total": [], "container_cpu_cfs_throttled_periods_total": [],
        "container_cpu_cfs_throttled_seconds_total": [],
        "container_memory_usage_bytes": [], "container_memory_working_set_bytes": [],
        "container_memory_rss": [], "container_memory_cache": [], "container_memory_swap": [],
        "container_memory_failcnt": [], "container_oom_events_total": [],
        "container_memory_failures_total": ["failure_type", "scope"],
        "container_fs_usage_bytes": ["device"], "container_fs_reads_bytes_total": ["device"],
        "container_fs_writes_bytes_total": ["device"],
        "container_network_receive_bytes_total": ["interface"],
        "container_network_transmit_bytes_total": ["interface"],
        "container_network_receive_packets_total": ["interface"],
        "container_network_transmit_packets_total": ["interface"],
        "container_network_receive_errors_total": ["interface"],
        "container_network_transmit_errors_total": ["interface"],
        "container_network_receive_packets_dropped_total": ["interface"],
        "container_network_transmit_packets_dropped_total": ["interface"],
        "container_processes": [], "container_threads": [], "container_file_descriptors": [],
        "container_start_time_seconds": [], "container_spec_memory_limit_bytes": [],
        "container_spec_cpu_quota": [], "container_spec_cpu_period": [],
        "container_spec_cpu_shares": [], "container_ulimits_soft": ["ulimit"],
        "container_hugetlb_usage_bytes": ["pagesize"],
        "container_hugetlb_max_usage_bytes": ["pagesize"],
    }
    for name, extra in want.items():
        assert descs.get(name) == extra, name
    assert list_metrics(env) == []  # no pod yet


def test_container_metrics_follow_the_cgroup(env):
    pb = env.pb
    pod = env.pod("burn")
    sid = pod[0]
    alloc, limit = 32 * MIB, 256 * MIB
    script = (f'a=$(head -c {alloc} /dev/zero | tr "\\000" x); touch /ready; '
              'while :; do :; done')
    res = pb.LinuxContainerResources(memory_limit_in_bytes=limit, cpu_period=100000,
                                     cpu_quota=50000, cpu_shares=512)
    cid = env.run(pod, "burn", ["sh", "-c", script],
                  linux=pb.LinuxContainerConfig(resources=res))
    poll(lambda: env.exec(cid, ["sh", "-c", "test -f /ready"]).exit_code == 0, 60,
         "the allocation")

    pods = list_metrics(env)
    keys = check_consistent(env, pods)
    assert [p.pod_sandbox_id for p in pods] == [sid]
    p, c = ctr_of(env, cid)
    assert c is not None
    m1, base = by_name(c.metrics, keys)
    assert len(base) == 1
    labels = dict(zip(BASE_KEYS, base.pop()))
    assert labels["container"] == "burn"
    assert labels["pod"] == "burn" and labels["namespace"] == "default"
    assert labels["image"] == env.image("busybox")
    assert labels["name"].startswith("k8s_burn_burn_default_")
    rel = labels["id"]  # the cgroup, as cAdvisor's id

    # counters within what the cgroup files said just before and after a call
    def bracket(read, name, extra=(), scale=1):
        lo = read()
        _, cm = ctr_of(env, cid)
        hi = read()
        v = by_name(cm.metrics, keys)[0][name][extra][1]
        assert lo // scale <= v <= hi // scale, (name, lo, v, hi)
        return v
    bracket(lambda: cpu_usage_ns(rel), "container_cpu_usage_seconds_total", ("total",),
            10**9)
    if V1:
        bracket(lambda: cpu_periods(rel), "container_cpu_cfs_periods_total")
        assert m1["container_spec_memory_limit_bytes"][()][1] == \
            cg_u64("memory", rel, "memory.limit_in_bytes") == limit
        assert m1["container_spec_cpu_quota"][()][1] == \
            cg_u64("cpu", rel, "cpu.cfs_quota_us") == 50000
        assert m1["container_spec_cpu_period"][()][1] == 100000
        assert m1["container_spec_cpu_shares"][()][1] == cg_u64("cpu", rel, "cpu.shares") == 512
        procs = cg_read("memory", rel, "cgroup.procs").split()
        threads = cg_read("memory", rel, "tasks").split()
    else:
        assert m1["container_spec_memory_limit_bytes"][()][1] == limit
        assert m1["container_spec_cpu_quota"][()][1] == 50000
        procs = cg_read("", rel, "cgroup.procs").split()
        threads = cg_read("", rel, "cgroup.threads").split()
    # the busy shell alone runs in it (an exec came and went)
    assert m1["container_processes"][()][1] == len(procs) == 1
    assert m1["container_threads"][()][1] == len(threads) == 1
    fds = os.listdir(f"/proc/{procs[0]}/fd")
    assert m1["container_file_descriptors"][()][1] == len(fds)
    with open(f"/proc/{procs[0]}/limits") as f:
        nofile = [ln.split()[3] for ln in f if ln.startswith("Max open files")][0]
    assert m1["container_ulimits_soft"][("max_open_files",)][1] == int(nofile)
    assert m1["container_memory_working_set_bytes"][()][1] >= alloc
    assert m1["container_memory_rss"][()][1] >= alloc
    assert m1["container_memory_usage_bytes"][()][1] >= \
        m1["container_memory_working_set_bytes"][()][1]
    assert m1["container_memory_max_usage_bytes"][()][1] >= alloc or not V1
    assert m1["container_memory_failures_total"][("pgfault", "hierarchy")][1] > 0
    assert m1["container_start_time_seconds"][()][1] > 0
    (dev, (_, used)), = m1["container_fs_usage_bytes"].items()
    assert m1["container_fs_limit_bytes"][dev][1] > used

    # values move: CPU seconds and CFS periods, and the layer. (Throttling needs the
    # burner to get more than its 0.5 CPU, which a loaded machine may not give it: its
    # counter is held to the cgroup file instead.)
    def moved():
        _, cm = ctr_of(env, cid)
        m = by_name(cm.metrics, keys)[0]
        cpu = m["container_cpu_usage_seconds_total"][("total",)][1]
        return m if cpu > m1["container_cpu_usage_seconds_total"][("total",)][1] else None
    m2 = poll(moved, 180, "CPU seconds to grow")
    assert m2["container_cpu_cfs_periods_total"][()][1] > \
        m1["container_cpu_cfs_periods_total"][()][1]
    if V1:
        bracket(lambda: cg_keyed("cpu", rel, "cpu.stat")["nr_throttled"],
                "container_cpu_cfs_throttled_periods_total")
        bracket(lambda: cg_keyed("cpu", rel, "cpu.stat")["throttled_time"],
                "container_cpu_cfs_throttled_seconds_total", scale=10**9)
    r = env.exec(cid, ["sh", "-c", f"head -c {4 * MIB} /dev/urandom > /big"])
    assert r.exit_code == 0, r.stderr
    _, cm = ctr_of(env, cid)
    m3 = by_name(cm.metrics, keys)[0]
    assert m3["container_fs_usage_bytes"][dev][1] >= used + 4 * MIB

    # the pod's own metrics: its cgroup holds the container, so it used as much CPU
    pm, pbase = by_name(ctr_of(env, cid)[0].metrics, keys)
    plabels = dict(zip(BASE_KEYS, pbase.pop()))
    assert plabels["container"] == "" and plabels["name"] == sid and plabels["pod"] == "burn"
    assert pm["container_cpu_usage_seconds_total"][("total",)][1] >= \
        m2["container_cpu_usage_seconds_total"][("total",)][1]
    env.stop(cid)
    # an exited container has no cgroup to read: left out
    p, c = ctr_of(env, cid)
    assert c is None
    assert [x.pod_sandbox_id for x in list_metrics(env)] == [sid]


def test_pod_network_counters_move_with_traffic(env):
    pod = env.pod("net")
    sid = pod[0]
    cid = env.run(pod, "c", SLEEP)
    pods = list_metrics(env)
    keys = check_consistent(env, pods)
    (p1,) = pods
    n1 = by_name(p1.metrics, keys)[0]
    # every interface of the netns but lo: eth0, the CNI one
    assert set(n1["container_network_receive_bytes_total"]) == {("eth0",)}
    r = env.exec(cid, ["sh", "-c", f"ping -c 3 -W 5 {GATEWAY}"], timeout=30)
    assert r.exit_code == 0, r.stdout + r.stderr
    (p2,) = list_metrics(env)
    n2 = by_name(p2.metrics, keys)[0]

    def d(name):
        return n2[name][("eth0",)][1] - n1[name][("eth0",)][1]
    assert d("container_network_receive_bytes_total") >= 3 * 84
    assert d("container_network_transmit_bytes_total") >= 3 * 84
    assert d("container_network_receive_packets_total") >= 3
    assert d("container_network_transmit_packets_total") >= 3
    assert d("container_network_receive_errors_total") == 0
    assert n2["container_network_transmit_errors_total"][("eth0",)][1] == 0
    assert [c.container_id for c in p2.container_metrics] == [cid]
    # a stopped pod is not listed
    env.call("StopPodSandbox", env.pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    assert list_metrics(env) == []


def test_stream_answers_the_list(env):
    pods = [env.pod(f"p{i}") for i in range(2)]
    cids = [env.run(p, f"c{i}", SLEEP) for i, p in enumerate(pods)]
    host = env.pod("host", host_network=True)
    cids.append(env.run(host, "h", SLEEP))

    def shape(pod_metrics):
        # what doesn't move between two calls on idle containers: the pods, the
        # containers, each metric's name, type and labels, and the spec values
        out = {}
        for p in pod_metrics:
            ms = [("", m) for m in p.metrics] + \
                [(c.container_id, m) for c in p.container_metrics for m in c.metrics]
            out[p.pod_sandbox_id] = sorted(
                (cid, m.name, m.metric_type, tuple(m.label_values),
                 m.value.value if m.name.startswith("container_spec_") else None)
                for cid, m in ms)
        return out
    listed = list_metrics(env)
    msgs = list(env.c.stream("StreamPodSandboxMetrics",
                             env.pb.StreamPodSandboxMetricsRequest()))
    streamed = [p for m in msgs for p in m.pod_sandbox_metrics]
    check_consistent(env, streamed)
    assert shape(streamed) == shape(listed)
    assert len(listed) == 3
    assert sorted(c.container_id for p in listed for c in p.container_metrics) == sorted(cids)
    # the host network pod has no interface metrics of its own
    hp = [p for p in listed if p.pod_sandbox_id == host[0]][0]
    assert not [m for m in hp.metrics if m.name.startswith("container_network_")]
