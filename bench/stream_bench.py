#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Streaming: exec round trip and port-forward throughput, WebSocket beside SPDY.

  sudo bench/stream_bench.py [--build build-release] [--n 40] [--mib 64] [--rounds 3]

A berthd of the build in a netns of its own (cri_bench.Bench's setup: registry, busybox,
bridge CNI), one pod, and in one run:

- exec round trip: Exec RPC + connect + upgrade + `sh -c 'echo hello'` + the result on
  the error stream/channel, over WebSocket (v5.channel.k8s.io, python3-websockets) and
  over SPDY/3.1 (tests/integration/spdy.py), --n pairs in alternating order; median and
  p95 of each, and the median of the per-pair ratios;
- port-forward throughput through one stream: a pod-local server writes --mib MiB
  (busybox `head -c` of /dev/zero behind `nc -ll -e`), read to its end over WebSocket
  (v4.channel.k8s.io), over SPDY (portforward.k8s.io) and by a direct TCP connection made
  in the pod's network namespace to the same server; the same for an echo (`cat`) of
  --mib MiB sent and read back at once; --rounds rounds, rotating the order, best MB/s
  and median of each.

The clients are Python on the same 2 CPUs as berthd, so the direct copy is the ceiling of
what the clients can read, and the ratios (WebSocket / SPDY, each / direct) are the
figures to quote. Numbers are reported, never judged: this is not a test.
"""
import argparse
import asyncio
import json
import os
import select
import statistics
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)

from cri_bench import Bench, pct  # noqa: E402
from spdy import Client, connect_in_netns  # noqa: E402
import wsclient as W  # noqa: E402

CHUNK = 32768


class StreamBench(Bench):
    def run_ctr(self, pod, name, cmd):
        pb = self.pb
        cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                                 image=pb.ImageSpec(image=self.image), command=cmd,
                                 log_path=f"{name}.log")
        cid = self.call("CreateContainer", pb.CreateContainerRequest(
            pod_sandbox_id=pod[0], config=cfg, sandbox_config=pod[1])).container_id
        self.start_c(cid)
        return cid

    def exec_url(self, cid, cmd):
        return self.call("Exec", self.pb.ExecRequest(container_id=cid, cmd=cmd,
                                                     stdout=True)).url

    def pf_url(self, pod):
        return self.call("PortForward",
                         self.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url

    # ---- exec ----
    def exec_ws(self, cid):
        t0 = time.perf_counter()
        url = self.exec_url(cid, ["sh", "-c", "echo hello"])

        async def go():
            ws = await W.connect(self.nspath, url, ["v5.channel.k8s.io"])
            chans, _ = await W.collect(ws)
            await ws.close()
            return chans
        chans = asyncio.run(go())
        dt = time.perf_counter() - t0
        assert chans[W.STDOUT] == b"hello\n", chans
        assert json.loads(chans[W.ERROR])["status"] == "Success"
        return dt

    def exec_spdy(self, cid):
        t0 = time.perf_counter()
        u = urllib.parse.urlparse(self.exec_url(cid, ["sh", "-c", "echo hello"]))
        c = Client(connect_in_netns(self.nspath, u.hostname, u.port))
        c.upgrade(u.path, ["v4.channel.k8s.io"])
        err = c.open({"streamType": "error"})
        out = c.open({"streamType": "stdout"})
        c.pump(lambda: err.fin and out.fin, timeout=60)
        c.shutdown()
        dt = time.perf_counter() - t0
        assert bytes(out.data) == b"hello\n"
        assert json.loads(err.data)["status"] == "Success"
        return dt

    # ---- port-forward ----
    def pf_ws(self, pod, port, send):
        """Bytes read from the pod (after the port prefix) and the seconds taken."""
        url = self.pf_url(pod) + f"?port={port}"

        async def go():
            ws = await W.connect(self.nspath, url, ["v4.channel.k8s.io"])
            first = True
            got = 0
            t0 = time.perf_counter()

            async def sender():
                for i in range(0, send, CHUNK):
                    await ws.send(bytes([0]) + bytes(min(CHUNK, send - i)))
            task = asyncio.ensure_future(sender()) if send else None
            try:
                while not send or got < send:
                    m = await ws.recv()
                    if m[0] == 0:
                        got += len(m) - 1 - (2 if first else 0)
                        first = False
            except W.ConnectionClosed:
                pass
            dt = time.perf_counter() - t0
            if task:
                await task
            await ws.close()
            return got, dt
        return asyncio.run(go())

    def pf_spdy(self, pod, port, send):
        u = urllib.parse.urlparse(self.pf_url(pod))
        c = Client(connect_in_netns(self.nspath, u.hostname, u.port))
        c.upgrade(u.path, ["portforward.k8s.io"])
        c.open({"streamType": "error", "port": str(port), "requestID": "0"})
        d = c.open({"streamType": "data", "port": str(port), "requestID": "0"})
        t0 = time.perf_counter()

        def sender():  # while the main thread reads, as the WebSocket client does
            zero = bytes(CHUNK)
            for i in range(0, send, CHUNK):
                c.send(d, zero[:min(CHUNK, send - i)])
        t = threading.Thread(target=sender)
        t.start()
        c.pump(lambda: d.fin or (send and len(d.data) >= send), timeout=600)
        dt = time.perf_counter() - t0
        t.join()
        got = len(d.data)
        c.shutdown()
        return got, dt

    def pf_direct(self, nspath, port, send):
        s = connect_in_netns(nspath, "127.0.0.1", port)
        s.settimeout(600)
        t0 = time.perf_counter()
        got = 0
        zero = bytes(CHUNK)
        s.setblocking(False)
        sent = 0
        while (send and got < send) or (not send):
            want_w = sent < send
            r, w, _ = select.select([s], [s] if want_w else [], [], 60)
            if w:
                try:
                    sent += s.send(zero[:min(CHUNK, send - sent)])
                except BlockingIOError:
                    pass
            if r:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        dt = time.perf_counter() - t0
        s.close()
        return got, dt


def mbps(got, dt):
    return got / dt / 1e6


def cpu_s(pid):
    """utime + stime of a process, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build-release")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    b = StreamBench(a.build)
    try:
        b.start()
        pod = b.run_pod("stream")
        size = a.mib << 20
        cid = b.run_ctr(pod, "srv", [
            "sh", "-c",
            f"nc -ll -p 9000 -e head -c {size} /dev/zero & nc -ll -p 9001 -e cat & "
            "exec sleep 100000"])
        st = b.call("ContainerStatus", b.pb.ContainerStatusRequest(container_id=cid,
                                                                   verbose=True))
        nspath = f"/proc/{json.loads(st.info['info'])['pid']}/ns/net"
        for _ in range(200):  # until both listen
            try:
                connect_in_netns(nspath, "127.0.0.1", 9001).close()
                break
            except OSError:
                time.sleep(0.05)

        # exec round trips, alternating which transport goes first
        b.exec_ws(cid)
        b.exec_spdy(cid)
        ws_t, spdy_t, ratio = [], [], []
        for i in range(a.n):
            if i % 2:
                w = b.exec_ws(cid)
                s = b.exec_spdy(cid)
            else:
                s = b.exec_spdy(cid)
                w = b.exec_ws(cid)
            ws_t.append(w)
            spdy_t.append(s)
            ratio.append(w / s)
        print(f"Exec round trip (RPC + upgrade + `echo hello` + status), {a.n} pairs, ms: "
              "median p95")
        print(f"  WebSocket v5  {statistics.median(ws_t) * 1000:8.2f} {pct(ws_t, 95) * 1000:8.2f}")
        print(f"  SPDY v4       {statistics.median(spdy_t) * 1000:8.2f} "
              f"{pct(spdy_t, 95) * 1000:8.2f}")
        print(f"  WebSocket / SPDY, median of per-pair ratios: {statistics.median(ratio):.2f} "
              f"(p25 {pct(ratio, 25):.2f}, p75 {pct(ratio, 75):.2f})")

        ways = {"WebSocket": lambda port, send: b.pf_ws(pod, port, send),
                "SPDY": lambda port, send: b.pf_spdy(pod, port, send),
                "direct TCP": lambda port, send: b.pf_direct(nspath, port, send)}
        names = list(ways)
        for label, port, send in (("download (pod writes)", 9000, 0),
                                  ("echo (sent and read back)", 9001, size)):
            res = {k: [] for k in names}
            cpu = {k: [] for k in names}
            for r in range(a.rounds):
                for k in names[r % 3:] + names[:r % 3]:
                    c0 = cpu_s(b.proc.pid)
                    got, dt = ways[k](port, send)
                    cpu[k].append((cpu_s(b.proc.pid) - c0) / (got / (1 << 30)))
                    assert got == size, (k, got, size)
                    res[k].append(mbps(got, dt))
            print(f"\nPort-forward {label}, {a.mib} MiB through one stream, MB/s "
                  f"(best, median of {a.rounds}); berthd CPU s per GiB (median)")
            for k in names:
                print(f"  {k:<11} {max(res[k]):8.1f} {statistics.median(res[k]):8.1f}"
                      f" {statistics.median(cpu[k]):8.2f}")
            med = {k: statistics.median(res[k]) for k in names}
            print(f"  WebSocket / SPDY {med['WebSocket'] / med['SPDY']:.2f}; "
                  f"WebSocket / direct {med['WebSocket'] / med['direct TCP']:.2f}; "
                  f"SPDY / direct {med['SPDY'] / med['direct TCP']:.2f}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
