#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""CRI runtime benchmark: container and pod call latency, memory, beside raw runc and CNI.

  sudo bench/cri_bench.py [--build DIR] [--n 50] [--rss-n 100] [--pods 20]

Starts a berthd of DIR (default build-release; use a non-sanitizer build) in a network
namespace of its own with a bridge CNI network, a docker-registry in the same netns with
the busybox test image (tests/integration/registry.py), then measures over real gRPC:
  (a) CreateContainer, StartContainer, StopContainer (timeout 0), RemoveContainer:
      median and p95 over --n sequential containers, each paired with (b), then over --n
      concurrent ones;
  (b) interleaved with (a), pair by pair in alternating order: raw `runc create` +
      `runc start` and `runc kill` + `runc delete --force` of the same bundle (a copy of a
      berth container's config.json and its rootfs) with the flags berth gives runc; the
      ratio berth / raw of each pair, and the median of those ratios;
  (c) memory of berthd idle and with --rss-n running containers (VmRSS, RssAnon,
      RssFile, Pss, Pss_Anon, Pss_File), VmRSS of every berth-shim;
  (d) RunPodSandbox + StopPodSandbox + RemovePodSandbox with the bridge network and with
      host network, beside `ip netns add` + the same CNI ADD/DEL run by hand + `ip netns
      delete`.
Numbers are reported, never judged: this is not a test.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import criapi  # noqa: E402
from registry import Registry, build_images  # noqa: E402

RUNC = shutil.which("runc") or "/usr/sbin/runc"
CNI_BIN = "/usr/lib/cni"
SLEEP = ["sh", "-c", "exec sleep 100000"]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def ms(v):
    return f"{statistics.median(v) * 1000:8.2f} {pct(v, 95) * 1000:8.2f}"


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return time.perf_counter() - t0, r


def status_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def mem_kb(pid):
    """VmRSS, RssAnon, RssFile (status) and Pss, Pss_Anon, Pss_File (smaps_rollup), kB.
    RssFile is mostly shared libraries' pages, shared with every other process that maps
    them; Pss divides each page by the number of processes mapping it."""
    m = {f: status_kb(pid, f) for f in ("VmRSS", "RssAnon", "RssFile")}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k = line.split(":")[0]
            if k in ("Pss", "Pss_Anon", "Pss_File"):
                m[k] = int(line.split()[1])
    return m


def mem_str(m):
    return "  ".join(f"{k} {v}" for k, v in m.items())


class Bench:
    def __init__(self, build, extra_cfg=None):
        self.build = os.path.abspath(build)
        self.extra_cfg = extra_cfg or {}
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-", dir="/tmp")
        self.netns = f"berth-bench-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        self.nspath = f"/run/netns/{self.netns}"
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        self.cg = f"/berth-bench-{uuid.uuid4().hex[:8]}"
        self.reg = None
        self.proc = None
        self.raw_ns = []

    # ---- setup ----
    def conflist(self):
        return {"cniVersion": "1.0.0", "name": "berth-bench", "plugins": [
            {"type": "bridge", "bridge": "berth0", "isGateway": True, "ipMasq": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]],
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": os.path.join(self.tmp, "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}

    def start(self):
        layout = os.path.join(self.tmp, "layout")
        build_images(layout)
        os.makedirs(os.path.join(self.tmp, "registry"))
        self.reg = Registry(os.path.join(self.tmp, "registry"), netns=self.nspath)
        self.reg.start()
        self.reg.push(layout, "busybox", "1")
        lib = os.path.join(self.tmp, "libexec")
        os.makedirs(lib)
        for name, rel in (("berth-shim", "shim/berth-shim"), ("berth-exec", "oci/berth-exec"),
                          ("berth-pinns", "libexec/berth-pinns"),
                          ("berth-pull", "libexec/berth-pull")):
            os.symlink(os.path.join(self.build, rel), os.path.join(lib, name))
        cni = os.path.join(self.tmp, "net.d")
        os.makedirs(cni)
        with open(os.path.join(cni, "10-bench.conflist"), "w") as f:
            json.dump(self.conflist(), f)
        cfg = {"log_level": "warn", "workers": 8, "libexec_dir": lib,
               "cni": {"conf_dir": cni}, **self.extra_cfg}
        cfg_path = os.path.join(self.tmp, "berth.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        self.sock = os.path.join(self.tmp, "berth.sock")
        self.run_dir = os.path.join(self.tmp, "run")
        self.log = open(os.path.join(self.tmp, "berthd.log"), "wb")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net={self.nspath}", os.path.join(self.build, "cri", "berthd"),
             "--config", cfg_path, "--socket", self.sock, "--state-dir",
             os.path.join(self.tmp, "state"), "--run-dir", self.run_dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("berthd did not start")
            time.sleep(0.01)
        os.makedirs(os.path.join(self.tmp, "gen"))
        self.pb = criapi.generate(os.path.join(self.tmp, "gen"))
        self.c = criapi.Client(self.pb, self.sock)
        self.image = f"{self.reg.host}/test/busybox:1"
        self.call("PullImage", self.pb.PullImageRequest(image=self.pb.ImageSpec(image=self.image)),
                  timeout=120)

    def call(self, name, req, timeout=120):
        return self.c.call(name, req, timeout=timeout)

    def pod_config(self, name, host_network=False):
        pb = self.pb
        ns = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD,
                                pid=pb.CONTAINER, ipc=pb.POD)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace="bench", uid=uuid.uuid4().hex),
            log_directory=os.path.join(self.tmp, "logs", name),
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cg,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))

    def run_pod(self, name, host_network=False):
        cfg = self.pod_config(name, host_network)
        return self.call("RunPodSandbox", self.pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id, cfg

    def stop_pod(self, sid):
        self.call("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=sid))

    def remove_pod(self, sid):
        self.call("RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=sid))

    # ---- containers ----
    def create(self, pod, name):
        pb = self.pb
        cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                                 image=pb.ImageSpec(image=self.image), command=SLEEP,
                                 log_path=f"{name}.log")
        return self.call("CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=pod[0], config=cfg, sandbox_config=pod[1])).container_id

    def start_c(self, cid):
        self.call("StartContainer", self.pb.StartContainerRequest(container_id=cid))

    def stop_c(self, cid):
        self.call("StopContainer", self.pb.StopContainerRequest(container_id=cid, timeout=0))

    def remove_c(self, cid):
        self.call("RemoveContainer", self.pb.RemoveContainerRequest(container_id=cid))

    def lifecycle(self, pod, name, t):
        d, cid = timed(self.create, pod, name)
        t["create"].append(d)
        t["start"].append(timed(self.start_c, cid)[0])
        t["stop"].append(timed(self.stop_c, cid)[0])
        t["remove"].append(timed(self.remove_c, cid)[0])

    def containers(self, pod, n, parallel):
        t = {k: [] for k in ("create", "start", "stop", "remove")}
        if not parallel:
            for i in range(n):
                self.lifecycle(pod, f"s{i}", t)
            return t
        # all create+start at once, then all stop+remove at once
        ids = [None] * n

        def up(i):
            d, cid = timed(self.create, pod, f"c{i}")
            t["create"].append(d)
            t["start"].append(timed(self.start_c, cid)[0])
            ids[i] = cid

        def down(i):
            t["stop"].append(timed(self.stop_c, ids[i])[0])
            t["remove"].append(timed(self.remove_c, ids[i])[0])

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            list(ex.map(up, range(n)))
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            list(ex.map(down, range(n)))
        return t

    def raw_setup(self, pod):
        """A raw runc bundle: a berth container's config.json (its pod namespaces, cgroup
        parent) with the rootfs of that container, which stays created (and mounted)."""
        self.holder = self.create(pod, "raw-holder")
        info = json.loads(self.call("ContainerStatus", self.pb.ContainerStatusRequest(
            container_id=self.holder, verbose=True)).info["info"])
        self.raw_spec = info["runtimeSpec"]
        self.raw_spec["root"]["path"] = info["rootfs"]
        self.raw_cg = os.path.dirname(info["cgroupsPath"])
        self.raw_bundle = os.path.join(self.tmp, "raw-bundle")
        os.makedirs(self.raw_bundle, exist_ok=True)
        self.raw_root = os.path.join(self.tmp, "raw-runc")
        self.raw_i = 0

    def raw_once(self):
        """One raw `runc create` + `runc start`, then `runc kill KILL` + `runc delete
        --force`, with the global flags and create flags berth-shim gives runc (--root,
        --log <bundle>/log.json --log-format json; --bundle, --pid-file), stdio /dev/null
        (berth-shim hands runc pipes it reads; runc itself writes nothing to them). Writing
        config.json is outside the timing here, inside it for berth (CreateContainer
        builds and writes it)."""
        rid = f"raw{self.raw_i}-{uuid.uuid4().hex[:8]}"
        self.raw_i += 1
        self.raw_spec["linux"]["cgroupsPath"] = os.path.join(self.raw_cg, rid)
        with open(os.path.join(self.raw_bundle, "config.json"), "w") as f:
            json.dump(self.raw_spec, f)
        glob = [RUNC, "--root", self.raw_root, "--log",
                os.path.join(self.raw_bundle, "log.json"), "--log-format", "json"]
        pidf = os.path.join(self.raw_bundle, "container.pid")
        t0 = time.perf_counter()
        subprocess.run(glob + ["create", "--bundle", self.raw_bundle, "--pid-file", pidf, rid],
                       check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        subprocess.run(glob + ["start", rid], check=True)
        t1 = time.perf_counter()
        subprocess.run(glob + ["kill", rid, "KILL"], check=True)
        subprocess.run(glob + ["delete", "--force", rid], check=True)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    def paired(self, pod, n):
        """n pairs of one berth container lifecycle and one raw runc lifecycle, the order
        alternating (B R, R B, ...) so that drift in the machine's load hits both sides
        alike; the ratio is taken per pair."""
        t = {k: [] for k in ("create", "start", "stop", "remove", "raw_up", "raw_down")}
        for i in range(n):
            order = (0, 1) if i % 2 == 0 else (1, 0)
            for side in order:
                if side == 0:
                    self.lifecycle(pod, f"s{i}", t)
                else:
                    up, down = self.raw_once()
                    t["raw_up"].append(up)
                    t["raw_down"].append(down)
        return t

    def rss(self, pod, n):
        ids = []

        def up(i):
            cid = self.create(pod, f"r{i}")
            self.start_c(cid)
            return cid

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            ids = list(ex.map(up, range(n)))
        shims = []
        for cid in ids:
            info = json.loads(self.call("ContainerStatus", self.pb.ContainerStatusRequest(
                container_id=cid, verbose=True)).info["info"])
            shims.append(status_kb(info["shimPid"]))
        berthd = mem_kb(self.proc.pid)
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(self.remove_c, ids))
        return berthd, shims

    # ---- pods ----
    def pods(self, n, host_network):
        t = {k: [] for k in ("run", "stop", "remove", "total")}
        for i in range(n):
            t0 = time.perf_counter()
            d, (sid, _) = timed(self.run_pod, f"p{i}", host_network)
            t["run"].append(d)
            t["stop"].append(timed(self.stop_pod, sid)[0])
            t["remove"].append(timed(self.remove_pod, sid)[0])
            t["total"].append(time.perf_counter() - t0)
        return t

    def cni_plugin(self, cmd, plugin, nsname, cid, prev=None):
        conf = dict(plugin, cniVersion="1.0.0", name="berth-bench")
        if prev is not None:
            conf["prevResult"] = prev
        env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{nsname}",
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_BIN, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        out = subprocess.run(["nsenter", f"--net={self.nspath}",
                              os.path.join(CNI_BIN, plugin["type"])],
                             input=json.dumps(conf).encode(), env=env, capture_output=True)
        if out.returncode != 0:
            raise RuntimeError(f"{plugin['type']} {cmd}: {out.stdout!r} {out.stderr!r}")
        return json.loads(out.stdout) if out.stdout.strip() else None

    def raw_pods(self, n):
        plugins = self.conflist()["plugins"]
        t = []
        for i in range(n):
            nsname = f"bbraw-{uuid.uuid4().hex[:8]}"
            cid = uuid.uuid4().hex
            t0 = time.perf_counter()
            subprocess.run(["ip", "netns", "add", nsname], check=True)
            self.raw_ns.append(nsname)
            prev = None
            for p in plugins:
                prev = self.cni_plugin("ADD", p, nsname, cid, prev)
            for p in reversed(plugins):
                self.cni_plugin("DEL", p, nsname, cid, prev)
            subprocess.run(["ip", "netns", "delete", nsname], check=True)
            self.raw_ns.remove(nsname)
            t.append(time.perf_counter() - t0)
        return t

    def close(self):
        for ns in self.raw_ns:
            subprocess.run(["ip", "netns", "delete", ns], check=False)
        if self.proc and self.proc.poll() is None and hasattr(self, "pb"):
            try:
                for ct in self.call("ListContainers", self.pb.ListContainersRequest()).containers:
                    self.remove_c(ct.id)
                for p in self.call("ListPodSandbox", self.pb.ListPodSandboxRequest()).items:
                    self.stop_pod(p.id)
                    self.remove_pod(p.id)
            except Exception as e:  # report, clean up regardless
                print(f"cleanup: {e}", file=sys.stderr)
            self.proc.terminate()
            self.proc.wait(timeout=20)
        if self.reg:
            self.reg.stop()
        for mp in sorted((l.split()[4] for l in open("/proc/self/mountinfo")
                          if l.split()[4].startswith(self.tmp)), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)
        for h in os.listdir("/sys/fs/cgroup"):
            p = os.path.join("/sys/fs/cgroup", h, self.cg.lstrip("/"))
            for dirpath, _, _ in sorted(os.walk(p), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--rss-n", type=int, default=100)
    ap.add_argument("--pods", type=int, default=20)
    a = ap.parse_args()
    b = Bench(a.build)
    try:
        b.start()
        idle = mem_kb(b.proc.pid)
        pod = b.run_pod("bench")
        b.raw_setup(pod)
        seq = b.paired(pod, a.n)
        b.remove_c(b.holder)
        conc = b.containers(pod, a.n, True)
        print(f"\nContainers ({a.n} each; ms: median p95)")
        print(f"{'call':<28} {'sequential':>17} {'concurrent':>19}")
        for k in ("create", "start", "stop", "remove"):
            print(f"{k:<28} {ms(seq[k])}   {ms(conc[k])}")
        cs = [c + s for c, s in zip(seq["create"], seq["start"])]
        sr = [s + r for s, r in zip(seq["stop"], seq["remove"])]
        print(f"{'create+start (berth)':<28} {ms(cs)}")
        print(f"{'runc create+start (raw)':<28} {ms(seq['raw_up'])}")
        print(f"{'stop+remove (berth)':<28} {ms(sr)}")
        print(f"{'runc kill+delete (raw)':<28} {ms(seq['raw_down'])}")
        up_r = [x / y for x, y in zip(cs, seq["raw_up"])]
        down_r = [x / y for x, y in zip(sr, seq["raw_down"])]
        print(f"create+start / raw, median of {a.n} pairs: {statistics.median(up_r):.2f} "
              f"(p25 {pct(up_r, 25):.2f}, p75 {pct(up_r, 75):.2f}); "
              f"ratio of medians {statistics.median(cs) / statistics.median(seq['raw_up']):.2f}")
        print(f"stop+remove / raw, median of {a.n} pairs: {statistics.median(down_r):.2f} "
              f"(p25 {pct(down_r, 25):.2f}, p75 {pct(down_r, 75):.2f})")

        berthd, shims = b.rss(pod, a.rss_n)
        print("\nMemory (kB)")
        print(f"berthd idle (image pulled, no pod): {mem_str(idle)}")
        print(f"berthd with {a.rss_n} running containers: {mem_str(berthd)}")
        print(f"berth-shim VmRSS median {statistics.median(shims):.0f}  max {max(shims)}"
              f"  total {sum(shims)}")
        b.stop_pod(pod[0])
        b.remove_pod(pod[0])
        if a.pods <= 0:
            return

        bridge = b.pods(a.pods, False)
        host = b.pods(a.pods, True)
        raw = b.raw_pods(a.pods)
        print(f"\nPods ({a.pods} each; ms: median p95)")
        for k in ("run", "stop", "remove", "total"):
            print(f"{'bridge ' + k:<28} {ms(bridge[k])}   {'host ' + k:<10} {ms(host[k])}")
        print(f"{'raw netns add+CNI ADD/DEL+del':<28} {ms(raw)}")
        print(f"ratio bridge run+stop+remove / raw: "
              f"{statistics.median(bridge['total']) / statistics.median(raw):.2f}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
