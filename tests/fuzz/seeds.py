#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the seed corpus of the fuzz targets to tests/fuzz/corpus/<target>/.

The seeds are committed; run this again after changing it. Each seed is a
well-formed input the target's parser accepts (or a near miss), so mutation
starts from the formats' real structure."""
import gzip
import io
import json
import os
import re
import struct
import sys
import tarfile
import zlib

TOP = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(TOP))


def put(target, name, data):
    d = os.path.join(TOP, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def config():
    with open(os.path.join(ROOT, "scripts", "berth.json"), "rb") as f:
        put("config", "berth.json", f.read())
    put("config", "full.json", json.dumps({
        "socket": "/run/b.sock", "state_dir": "/var/lib/b", "run_dir": "/run/b",
        "log_level": "debug", "workers": 8, "cgroup_driver": "systemd",
        "default_runtime": "crun",
        "runtimes": {"crun": {"path": "/usr/bin/crun", "options": ["--debug"]},
                     "runc": {"path": "/usr/sbin/runc", "root": "/run/r"}},
        "cni": {"conf_dir": "/etc/cni/net.d", "bin_dirs": ["/usr/lib/cni"],
                "conf_template": "/etc/berth/cni.tmpl"},
        "registries": {"localhost:5000": {"insecure": True,
                                          "mirrors": ["http://127.0.0.1:5001"]}},
        "stream": {"address": "127.0.0.1", "port": 0},
        "seccomp_profile": "/usr/share/containers/seccomp.json"}))
    put("config", "comments.json", '// c\n{ /* x */ "workers": 2 }\n')


def image_json():
    data = os.path.join(ROOT, "tests", "unit", "data", "image")
    sel = {"oci-manifest.json": 1, "oci-index.json": 2, "docker-manifest.json": 3,
           "docker-list.json": 4, "schema1.json": 0, "config.json": 6}
    for name, s in sel.items():
        with open(os.path.join(data, name), "rb") as f:
            put("image_json", name, bytes([s]) + f.read())
    with open(os.path.join(data, "oci-index.json"), "rb") as f:
        put("image_json", "index-untyped.json", b"\0" + f.read())


def tar_bytes(build, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        build(t)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress == "gz" else raw


def add(t, name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.linkname = link
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    ti.mtime = 0
    for k, v in kw.items():
        setattr(ti, k, v)
    t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def unpack():
    def basic(t):
        add(t, "./", tarfile.DIRTYPE, mode=0o755)
        add(t, "bin/", tarfile.DIRTYPE, mode=0o755)
        add(t, "bin/busybox", data=b"#!busybox\n", mode=0o4755)
        add(t, "bin/sh", tarfile.SYMTYPE, link="busybox")
        add(t, "bin/hard", tarfile.LNKTYPE, link="bin/busybox")
        add(t, "etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0)
        add(t, "home/u/f", data=b"secret", mode=0o600, uid=1000, gid=1000,
            pax_headers={"SCHILY.xattr.user.berth": "v"})
        add(t, "dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
        add(t, "run/fifo", tarfile.FIFOTYPE)

    def whiteouts(t):
        add(t, "etc/", tarfile.DIRTYPE, mode=0o755)
        add(t, "etc/.wh.old")
        add(t, "var/.wh..wh..opq")
        add(t, "var/new", data=b"n")
        add(t, ".wh..wh.plnk")

    def escapes(t):
        add(t, "../up", data=b"x")
        add(t, "/abs", data=b"x")
        add(t, "out", tarfile.SYMTYPE, link="/")
        add(t, "out/through", data=b"x")
        add(t, "dots", tarfile.SYMTYPE, link="../../..")
        add(t, "dots/x", data=b"x")
        add(t, "hl", tarfile.LNKTYPE, link="../../etc/passwd")
        add(t, "a/../../b", data=b"x")

    def replace(t):
        add(t, "x", data=b"file first")
        add(t, "x/", tarfile.DIRTYPE, mode=0o755)
        add(t, "x/y", data=b"y")
        add(t, "x", tarfile.SYMTYPE, link="x")
        add(t, "l", tarfile.SYMTYPE, link="l2")
        add(t, "l2", tarfile.SYMTYPE, link="l")
        add(t, "l/f", data=b"loop")

    for name, fn in [("basic", basic), ("whiteouts", whiteouts), ("escapes", escapes),
                     ("replace", replace)]:
        put("unpack", name + ".tar", b"\x00" + tar_bytes(fn))
    put("unpack", "basic.tar.gz", b"\x05" + tar_bytes(basic, "gz"))
    # a size field larger than the data that follows
    short = bytearray(tar_bytes(lambda t: add(t, "f", data=b"a" * 600)))
    put("unpack", "short.tar", b"\x01" + bytes(short[:1024]))


def cni_result():
    r = {"cniVersion": "1.0.0",
         "interfaces": [{"name": "cni0"}, {"name": "veth1"},
                        {"name": "eth0", "sandbox": "/run/netns/x"}],
         "ips": [{"address": "10.88.0.2/16", "interface": 2, "gateway": "10.88.0.1"},
                 {"address": "fd00::2/64", "interface": 2},
                 {"address": "192.168.0.9/24", "interface": 0}],
         "routes": [{"dst": "0.0.0.0/0"}], "dns": {}}
    put("cni_result", "result.json", json.dumps(r))
    put("cni_result", "noiface.json", json.dumps({"cniVersion": "0.4.0",
                                                  "ips": [{"address": "10.0.0.2/24"}]}))
    put("cni_result", "error.json", json.dumps(
        {"cniVersion": "1.0.0", "code": 7, "msg": "no IP addresses available",
         "details": "range 10.88.0.0/16 is full"}) + "\0plugin failed\n")
    put("cni_result", "stderr.txt", "\0failed to set bridge addr: permission denied\n")


def http():
    put("http", "exec.txt",
        "POST /exec/AbCdEfGhIjK HTTP/1.1\r\nHost: 127.0.0.1:1234\r\n"
        "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
        "X-Stream-Protocol-Version: v3.channel.k8s.io, channel.k8s.io\r\n\r\n")
    put("http", "ws.txt",
        "GET /attach/AbCdEfGhIjK?stdout=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n")
    put("http", "bare.txt", "GET / HTTP/1.0\n\n")


def spdy_dict():
    with open(os.path.join(ROOT, "streaming", "spdy_dict.c")) as f:
        body = f.read().split("{", 1)[1]
    return bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))


def spdy():
    d = spdy_dict()
    comp = zlib.compressobj(zdict=d)

    def block(headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers:
            raw += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
        return comp.compress(raw) + comp.flush(zlib.Z_SYNC_FLUSH)

    def ctrl(typ, flags, payload):
        return struct.pack(">HHI", 0x8003, typ, (flags << 24) | len(payload)) + payload

    def syn(sid, headers, flags=0):
        return ctrl(1, flags, struct.pack(">IIH", sid, 0, 0) + block(headers))

    def data(sid, payload, flags=0):
        return struct.pack(">II", sid, (flags << 24) | len(payload)) + payload

    conn = (syn(1, [(b"streamtype", b"error")]) + syn(3, [(b"streamtype", b"stdin")]) +
            syn(5, [(b"streamtype", b"stdout")]) +
            syn(7, [(b"streamtype", b"resize"), (b"x", b"a\0b")]) +
            data(3, b"echo hi\n") + data(7, b'{"Width":80,"Height":24}') +
            ctrl(6, 0, struct.pack(">I", 1)) + data(3, b"", 1) +
            ctrl(9, 0, struct.pack(">II", 5, 65536)) +
            ctrl(4, 0, struct.pack(">III", 1, 0x07, 1 << 20)) +
            ctrl(3, 0, struct.pack(">II", 5, 5)) + ctrl(7, 0, struct.pack(">II", 7, 0)))
    put("spdy", "exec.bin", conn)
    comp = zlib.compressobj(zdict=d)
    pf = (syn(1, [(b"streamtype", b"error"), (b"port", b"80"), (b"requestid", b"0")]) +
          syn(3, [(b"streamtype", b"data"), (b"port", b"80"), (b"requestid", b"0")]) +
          data(3, b"GET / HTTP/1.0\r\n\r\n") +
          ctrl(8, 0, struct.pack(">I", 3) + block([(b"a", b"b")])))
    put("spdy", "portforward.bin", pf)


def shim_ctl():
    def pkt(who, b):
        b = b.encode() if isinstance(b, str) else b
        return bytes([who, len(b)]) + b
    put("shim_ctl", "commands.bin", b"\x00" + pkt(0, "ping") + pkt(0, "state") +
        pkt(1, "resize 80 24") + pkt(1, "reopen-log") + pkt(2, "stdin hello\n") +
        pkt(2, "close-stdin") + pkt(3, "bogus x") + pkt(3, ""))
    put("shim_ctl", "attach.bin", b"\x01" + pkt(0, "attach stdin stdout stderr") +
        pkt(0, b"\x00echo hi\n") + pkt(0, b"\x05120 40") + pkt(0xfe, "out") +
        pkt(1, "attach stdout") + pkt(0xfe, "err!") + pkt(0, b"\x04") + pkt(0, b"\x09"))
    big = b"\x00" + pkt(0, "attach stdin") + b"".join(pkt(0, b"\x00" + b"x" * 250)
                                                    for _ in range(24))
    put("shim_ctl", "fill-stdin.bin", big + pkt(1, "attach stdin") + pkt(0, "") +
        pkt(0xff, "") + pkt(1, b"\x00more"))
    put("shim_ctl", "once-exited.bin", b"\x06" + pkt(0, "attach stdin stdout") +
        pkt(0, "state") + pkt(1, "attach stdin"))




def cri():
    import tempfile
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import criapi
    with tempfile.TemporaryDirectory() as d:
        pb = criapi.generate(d)
    with open(os.path.join(ROOT, "cri", "methods.c")) as f:
        names = re.findall(r"M\((?:RUNTIME|IMAGE), (\w+),", f.read())
    sb = "5b" * 32

    def req(name, **kw):
        msg = getattr(pb, name + "Request")(**kw)
        b = msg.SerializeToString()
        return bytes([names.index(name)]) + struct.pack(">H", len(b)) + b

    def ctr_config(name, **kw):
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name),
            image=pb.ImageSpec(image="docker.io/library/busybox:1"),
            command=["/bin/sh", "-c", "sleep 1"], envs=[pb.KeyValue(key="A", value=b"b")],
            labels={"app": "x"}, log_path=name + "/0.log", **kw)

    life = (req("CreateContainer", pod_sandbox_id=sb, config=ctr_config("c1")) +
            req("StartContainer", container_id="@") + req("ContainerStatus", container_id="@") +
            req("ExecSync", container_id="@", cmd=["ls"], timeout=1) +
            req("UpdateContainerResources", container_id="@",
                linux=pb.LinuxContainerResources(cpu_shares=512, memory_limit_in_bytes=64 << 20)) +
            req("ReopenContainerLog", container_id="@") +
            req("StopContainer", container_id="@", timeout=1) +
            req("ListContainers") + req("RemoveContainer", container_id="@"))
    put("cri", "lifecycle.bin", life)
    rich = ctr_config(
        "c2", working_dir="/w", tty=True, stdin=True,
        mounts=[pb.Mount(container_path="/data", host_path="/tmp", readonly=True,
                         propagation=pb.PROPAGATION_PRIVATE)],
        devices=[pb.Device(container_path="/dev/x", host_path="/dev/null", permissions="rw")],
        linux=pb.LinuxContainerConfig(
            resources=pb.LinuxContainerResources(
                cpu_period=100000, cpu_quota=50000, cpu_shares=256, oom_score_adj=100,
                cpuset_cpus="0-1", cpuset_mems="0", memory_limit_in_bytes=128 << 20,
                hugepage_limits=[pb.HugepageLimit(page_size="2MB", limit=2 << 20)],
                unified={"memory.high": "100M"}),
            security_context=pb.LinuxContainerSecurityContext(
                capabilities=pb.Capability(add_capabilities=["NET_ADMIN"],
                                           drop_capabilities=["ALL"]),
                run_as_user=pb.Int64Value(value=1000), readonly_rootfs=True,
                masked_paths=["/proc/kcore"], no_new_privs=True,
                seccomp=pb.SecurityProfile(profile_type=pb.SecurityProfile.RuntimeDefault),
                namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))))
    put("cri", "create-rich.bin", req("CreateContainer", pod_sandbox_id=sb, config=rich) +
        req("StartContainer", container_id="@"))
    put("cri", "pod.bin", req("PodSandboxStatus", pod_sandbox_id=sb, verbose=True) +
        req("ListPodSandbox") + req("PodSandboxStats", pod_sandbox_id=sb) +
        req("UpdatePodSandboxResources", pod_sandbox_id=sb,
            resources=pb.LinuxContainerResources(cpu_shares=1024)) +
        req("StopPodSandbox", pod_sandbox_id=sb) + req("RemovePodSandbox", pod_sandbox_id=sb))
    put("cri", "images.bin", req("ListImages") +
        req("ImageStatus", image=pb.ImageSpec(image="busybox:1"), verbose=True) +
        req("ImageFsInfo") + req("RemoveImage", image=pb.ImageSpec(image="busybox:1")))
    put("cri", "runtime.bin", req("Version", version="0.1.0") + req("Status", verbose=True) +
        req("RuntimeConfig") +
        req("UpdateRuntimeConfig", runtime_config=pb.RuntimeConfig(
            network_config=pb.NetworkConfig(pod_cidr="10.88.0.0/16"))))
    put("cri", "run-pod.bin", req("RunPodSandbox", config=pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="p", uid="u", namespace="n"), hostname="p",
        dns_config=pb.DNSConfig(servers=["8.8.8.8"], searches=["a.b"], options=["ndots:5"]),
        port_mappings=[pb.PortMapping(protocol=pb.UDP, container_port=53, host_port=5353)],
        linux=pb.LinuxPodSandboxConfig(sysctls={"net.core.somaxconn": "1024"}))) +
        req("PullImage", image=pb.ImageSpec(image="localhost:5000/x:1"),
            auth=pb.AuthConfig(username="u", password="p")))
    put("cri", "streams.bin",
        req("Exec", container_id="@", cmd=["sh"], tty=True, stdin=True) +
        req("Attach", container_id="@", stdout=True) +
        req("PortForward", pod_sandbox_id=sb, port=[80]) +
        req("ListContainerStats", filter=pb.ContainerStatsFilter(pod_sandbox_id=sb)))


if __name__ == "__main__":
    for fn in (config, image_json, unpack, cni_result, http, spdy, shim_ctl, cri):
        fn()
