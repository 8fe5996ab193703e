#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""berth-shim benchmark: memory per shim and log throughput, beside conmon.

  sudo bench/shim_bench.py [--build DIR] [--n 20] [--seconds 5] [--line 100]

(a) RSS: N busybox `sleep` containers, each under its own berth-shim, then the
    same under Debian's conmon; VmRSS / RssAnon from /proc/<pid>/status.
(b) Log throughput: a container running `yes <line>` for --seconds, then
    SIGKILL; MB/s of container output that reached the CRI log file, counted
    when the monitor has drained the pipe and written the exit file. Same
    container through conmon (--no-sync-log, as berth-shim doesn't fsync).
Use a non-sanitizer build (e.g. cmake -DCMAKE_BUILD_TYPE=Release). Numbers
are reported, never judged: this is not a test.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

RUNC = shutil.which("runc") or "/usr/sbin/runc"
CONMON = shutil.which("conmon")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.002)


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, build):
        self.shim = os.path.join(build, "shim", "berth-shim")
        self.shimctl = os.path.join(build, "shim", "berth-shimctl")
        self.tmp = tempfile.mkdtemp(prefix="bshbench", dir="/tmp")
        self.root = os.path.join(self.tmp, "runc")
        self.exit_dir = os.path.join(self.tmp, "exits")
        os.makedirs(self.exit_dir)
        self.cg = f"/berth-shimbench-{uuid.uuid4().hex[:8]}"
        self.ids = []
        rootfs = os.path.join(self.tmp, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        for d in ("proc", "dev", "sys", "tmp"):
            os.makedirs(os.path.join(rootfs, d))
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for a in ("sh", "sleep", "yes"):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        subprocess.run([RUNC, "spec"], cwd=self.tmp, check=True)
        with open(os.path.join(self.tmp, "config.json")) as f:
            self.spec = json.load(f)
        self.spec["root"] = {"path": rootfs, "readonly": True}
        self.spec["process"]["terminal"] = False
        self.spec["process"]["env"] = ["PATH=/bin"]

    def runc(self, *args, check=True):
        return subprocess.run([RUNC, f"--root={self.root}", *args], check=check,
                              capture_output=True, text=True)

    def bundle(self, cid, args):
        b = os.path.join(self.tmp, "b", cid)
        os.makedirs(b)
        c = json.loads(json.dumps(self.spec))
        c["process"]["args"] = args
        c["linux"]["cgroupsPath"] = f"{self.cg}/{cid}"
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(c, f)
        return b

    def create(self, kind, cid, args):
        """Creates a container under berth-shim or conmon; returns (monitor pid, log)."""
        self.ids.append(cid)
        b = self.bundle(cid, args)
        log = os.path.join(self.tmp, "logs", cid + ".log")
        state = os.path.join(self.tmp, "state", cid)
        if kind == "berth-shim":
            out = subprocess.run([self.shimctl, "start", "--shim", self.shim, "--id", cid,
                                  "--bundle", b, "--runtime", RUNC,
                                  f"--runtime-arg=--root={self.root}", "--log-path", log,
                                  "--exit-dir", self.exit_dir, "--state-dir", state],
                                 check=True, capture_output=True, text=True).stdout
            return int(out.split()[0].split("=")[1]), log
        os.makedirs(state)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        subprocess.run([CONMON, "--api-version", "1", "-c", cid, "-u", cid, "-n", cid,
                        "-r", RUNC, "-b", b, "-p", os.path.join(state, "pid"),
                        "-P", os.path.join(state, "conmon.pid"), "-l", f"k8s-file:{log}",
                        "--exit-dir", self.exit_dir, "--socket-dir-path", state,
                        "--runtime-arg", f"--root={self.root}", "--no-sync-log",
                        "--log-level", "error"], check=True)
        # conmon's first process exits at once; the monitor reports by pid file
        wait_for(lambda: os.path.exists(os.path.join(state, "pid")), 30, "conmon create")
        with open(os.path.join(state, "conmon.pid")) as f:
            return int(f.read()), log

    def stop(self, cid):
        self.runc("kill", cid, "KILL", check=False)
        wait_for(lambda: os.path.exists(os.path.join(self.exit_dir, cid)), 60, f"exit of {cid}")
        self.runc("delete", "-f", cid, check=False)

    def rss(self, kind, n):
        mons = []
        for i in range(n):
            cid = f"rss-{kind}-{i}"
            pid, _ = self.create(kind, cid, ["sleep", "100000"])
            self.runc("start", cid)
            mons.append((cid, pid))
        vm = [status_kb(p, "VmRSS") for _, p in mons]
        anon = [status_kb(p, "RssAnon") for _, p in mons]
        for cid, _ in mons:
            self.stop(cid)
        return vm, anon

    def throughput(self, kind, seconds, line):
        cid = f"tp-{kind}-{uuid.uuid4().hex[:6]}"
        pid, log = self.create(kind, cid, ["yes", line])
        t0 = time.monotonic()
        self.runc("start", cid)
        time.sleep(seconds)
        cpu = cpu_seconds(pid)
        self.runc("kill", cid, "KILL", check=False)
        wait_for(lambda: os.path.exists(os.path.join(self.exit_dir, cid)), 120, "drain")
        t1 = time.monotonic()
        self.runc("delete", "-f", cid, check=False)
        # every container line ends in exactly one F record
        full, size, tail = 0, 0, b""
        with open(log, "rb") as f:
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                size += len(chunk)
                buf = tail + chunk
                full += buf.count(b" stdout F ")
                tail = buf[-16:]
                full -= tail.count(b" stdout F ")
        full += tail.count(b" stdout F ")
        os.unlink(log)
        payload = full * (len(line) + 1)
        return payload / (t1 - t0) / 1e6, size / (t1 - t0) / 1e6, cpu, full

    def cleanup(self):
        for cid in self.ids:
            self.runc("delete", "-f", cid, check=False)
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.cg.lstrip("/"))
            if os.path.isdir(top) and not os.path.islink(os.path.join("/sys/fs/cgroup", ctrl)):
                for d, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
                    try:
                        os.rmdir(d)
                    except OSError:
                        pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("BERTH_BUILD", "build-rel"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--line", type=int, default=100, help="bytes per log line")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    kinds = ["berth-shim"] + (["conmon"] if CONMON else [])
    print(f"kernel {os.uname().release}; {subprocess.run([RUNC, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    if CONMON:
        print(subprocess.run([CONMON, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    b = Bench(a.build)
    try:
        print(f"\n(a) RSS of {a.n} monitors of busybox 'sleep' containers (kB)")
        print(f"{'monitor':<12}{'VmRSS med':>10}{'VmRSS max':>10}{'RssAnon med':>12}")
        for k in kinds:
            vm, anon = b.rss(k, a.n)
            print(f"{k:<12}{statistics.median(vm):>10.0f}{max(vm):>10}{statistics.median(anon):>12.0f}")
        line = ("0123456789abcdef" * (a.line // 16 + 1))[:a.line]
        print(f"\n(b) log throughput: 'yes' with {a.line}-byte lines for {a.seconds:g} s")
        print(f"{'monitor':<12}{'round':>6}{'payload MB/s':>13}{'log MB/s':>10}{'cpu s':>7}"
              f"{'cpu s/GB':>9}{'lines':>12}")
        res = {k: [] for k in kinds}
        for r in range(a.rounds):
            for k in (kinds if r % 2 == 0 else kinds[::-1]):  # alternate the order
                mbs, logmbs, cpu, lines = b.throughput(k, a.seconds, line)
                res[k].append(mbs)
                gb = lines * (a.line + 1) / 1e9
                print(f"{k:<12}{r + 1:>6}{mbs:>13.1f}{logmbs:>10.1f}{cpu:>7.2f}"
                      f"{cpu / gb if gb else 0:>9.2f}{lines:>12}")
        for k in kinds:
            print(f"{k:<12} median payload MB/s over {a.rounds} rounds: "
                  f"{statistics.median(res[k]):.1f}")
    finally:
        b.cleanup()


if __name__ == "__main__":
    main()
