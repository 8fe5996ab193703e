#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Pod sandbox benchmark (issue 5): RunPodSandbox + StopPodSandbox +
RemovePodSandbox latency through berthd, with the bridge network and with the
host network, beside the raw cost of the same work by hand in the same run:
`ip netns add` + the same CNI ADD chain (bridge, portmap, firewall) and DEL +
`ip netns delete`.

  sudo bench/pod_bench.py [--build DIR] [--n 30]

berthd runs inside a network namespace of its own (like the integration
tests), and so do the raw CNI runs, so bridges and iptables rules never touch
the host's network. Use a non-sanitizer build for real numbers. Numbers are
reported, never judged: this is not a test.
"""
import argparse
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

CNI_BIN = "/usr/lib/cni"


def conflist(ipam_dir):
    return {"cniVersion": "1.0.0", "name": "bench", "plugins": [
        {"type": "bridge", "bridge": "berth0", "isGateway": True, "ipMasq": True,
         "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]],
                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": ipam_dir}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"}]}


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.005)


def summary(xs):
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return statistics.median(xs), p95


class Bench:
    def __init__(self, build, n):
        self.build = os.path.abspath(build)
        self.n = n
        self.tmp = tempfile.mkdtemp(prefix="bpod", dir="/tmp")
        self.netns = f"bpod-{uuid.uuid4().hex[:8]}"
        self.cni_dir = os.path.join(self.tmp, "net.d")
        self.run_dir = os.path.join(self.tmp, "run")
        self.conf = conflist(os.path.join(self.tmp, "ipam"))
        os.makedirs(self.cni_dir)
        with open(os.path.join(self.cni_dir, "10-bench.conflist"), "w") as f:
            json.dump(self.conf, f)
        self.proc = None
        self.client = None

    def start(self):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        subprocess.run(["ip", "-n", self.netns, "link", "set", "lo", "up"], check=True)
        cfg = os.path.join(self.tmp, "berth.json")
        with open(cfg, "w") as f:
            json.dump({"log_level": "warn", "cni": {"conf_dir": self.cni_dir,
                                                    "bin_dirs": [CNI_BIN]}}, f)
        sock = os.path.join(self.tmp, "berth.sock")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.netns}",
             os.path.join(self.build, "cri", "berthd"), "--config", cfg, "--socket", sock,
             "--state-dir", os.path.join(self.tmp, "state"), "--run-dir", self.run_dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, "berthd.log"), "wb"))
        wait_for(lambda: os.path.exists(sock), 20, "berthd socket")
        gen = os.path.join(self.tmp, "gen")
        os.makedirs(gen)
        self.pb = criapi.generate(gen)
        self.client = criapi.Client(self.pb, sock)
        wait_for(self._answers, 20, "berthd to answer")

    def _answers(self):
        try:
            return self.client.call("Version").runtime_name == "berth"
        except Exception:
            return False

    def stop(self):
        if self.client:
            self.client.close()
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        with open("/proc/self/mountinfo") as f:
            mps = [l.split()[4] for l in f if l.split()[4].startswith(self.tmp)]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def berth_cycle(self, i, host_network):
        pb = self.pb
        ns = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD, pid=pb.CONTAINER)
        cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"b{i}", namespace="bench", uid=uuid.uuid4().hex),
            hostname=f"b{i}",
            linux=pb.LinuxPodSandboxConfig(
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))
        t0 = time.perf_counter()
        sid = self.client.call("RunPodSandbox", pb.RunPodSandboxRequest(config=cfg),
                               timeout=60).pod_sandbox_id
        t1 = time.perf_counter()
        self.client.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid),
                         timeout=60)
        t2 = time.perf_counter()
        self.client.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid),
                         timeout=60)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    def _plugin(self, cmd, idx, cid, netns, prev):
        p = dict(self.conf["plugins"][idx])
        p["name"] = self.conf["name"]
        p["cniVersion"] = self.conf["cniVersion"]
        if prev is not None:
            p["prevResult"] = prev
        env = {"CNI_COMMAND": cmd, "CNI_CONTAINERID": cid, "CNI_NETNS": netns,
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_BIN,
               "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME={cid}",
               "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        r = subprocess.run(["nsenter", f"--net=/run/netns/{self.netns}",
                            os.path.join(CNI_BIN, p["type"])], input=json.dumps(p).encode(),
                           env=env, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"{p['type']} {cmd}: {r.stdout!r} {r.stderr!r}")
        return json.loads(r.stdout) if cmd == "ADD" else None

    def raw_cycle(self, i):
        """ip netns add + CNI ADD chain, then DEL chain + ip netns delete."""
        name = f"bpodraw-{uuid.uuid4().hex[:8]}"
        cid = f"raw{i}"
        t0 = time.perf_counter()
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        prev = None
        for k in range(len(self.conf["plugins"])):
            prev = self._plugin("ADD", k, cid, f"/run/netns/{name}", prev)
        t1 = time.perf_counter()
        for k in reversed(range(len(self.conf["plugins"]))):
            self._plugin("DEL", k, cid, f"/run/netns/{name}", prev)
        subprocess.run(["ip", "netns", "delete", name], check=True)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--n", type=int, default=30)
    a = ap.parse_args()
    b = Bench(a.build, a.n)
    try:
        b.start()
        b.berth_cycle(-1, False)  # warm-up: creates the bridge and iptables chains
        b.raw_cycle(-1)
        bridge, host, raw = [], [], []
        for i in range(a.n):
            bridge.append(b.berth_cycle(i, False))
            host.append(b.berth_cycle(1000 + i, True))
            raw.append(b.raw_cycle(i))
    finally:
        b.stop()

    def row(name, xs):
        med, p95 = summary(xs)
        print(f"{name:<44} {med * 1000:9.2f} {p95 * 1000:9.2f}")
        return med

    print(f"pod sandbox latency, n={a.n} (ms)")
    print(f"{'':<44} {'median':>9} {'p95':>9}")
    row("berth Run (bridge)", [x[0] for x in bridge])
    row("berth Stop (bridge)", [x[1] for x in bridge])
    row("berth Remove (bridge)", [x[2] for x in bridge])
    tb = row("berth Run+Stop+Remove (bridge)", [sum(x) for x in bridge])
    row("berth Run+Stop+Remove (host network)", [sum(x) for x in host])
    row("raw netns add + CNI ADD", [x[0] for x in raw])
    row("raw CNI DEL + netns delete", [x[1] for x in raw])
    tr = row("raw total", [sum(x) for x in raw])
    print(f"berth / raw (bridge, medians): {tb / tr:.3f}  (target < 1.10)")


if __name__ == "__main__":
    main()
