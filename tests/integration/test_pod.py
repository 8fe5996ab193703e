# SPDX-License-Identifier: Apache-2.0
"""Pod sandboxes (issue 5): RunPodSandbox, StopPodSandbox, RemovePodSandbox,
PodSandboxStatus, ListPodSandbox against a real berthd with real namespaces
and Debian's CNI plugins, inside the berthd's own network namespace.

Everything a sandbox makes on the host (pins, /dev/shm tmpfs, pod init,
cgroups, the pin root's self bind mount) is also swept by the `pods`
fixture's finalizer, so a failing test leaves nothing behind."""
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import uuid

import grpc
import pytest

from conftest import poll

CGROUP_ROOT = "/sys/fs/cgroup"


def conflist(d, plugins=None, name="berth-test"):
    """A bridge network on berth0 10.88.0.0/16 with host-local state in the
    test's own dir (never /var/lib/cni), plus portmap and firewall."""
    if plugins is None:
        plugins = [
            {"type": "bridge", "bridge": "berth0", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]],
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": os.path.join(d.root, "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
        ]
    return {"cniVersion": "1.0.0", "name": name, "plugins": plugins}


def write_conf(d, conf, fname="10-test.conflist"):
    with open(os.path.join(d.cni_dir, fname), "w") as f:
        f.write(conf if isinstance(conf, str) else json.dumps(conf))


def mountpoints_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return out


def cgroup_hierarchies():
    out = []
    for e in sorted(os.listdir(CGROUP_ROOT)):
        p = os.path.join(CGROUP_ROOT, e)
        if os.path.isdir(p) and not os.path.islink(p) and os.path.exists(
                os.path.join(p, "cgroup.procs")):
            out.append(p)
    return out or [CGROUP_ROOT]


def remove_cgroup_tree(rel):
    for h in cgroup_hierarchies():
        top = os.path.join(h, rel.lstrip("/"))
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def sweep(d, cgroup_parent):
    """Kills pod inits and unmounts everything under the berthd's root."""
    nsroot = os.path.join(d.run_dir, "ns")
    if os.path.isdir(nsroot):
        for e in os.listdir(nsroot):
            pidfile = os.path.join(nsroot, e, "init-pid")
            try:
                pid = int(open(pidfile).read())
                if open(f"/proc/{pid}/comm").read().strip() == "berth-pod-init":
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
    for mp in sorted(mountpoints_under(d.root), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], check=False)
    remove_cgroup_tree(cgroup_parent)


def restart_with_plugin(pods, name, script):
    """Restarts the pods' berthd with a fake CNI plugin `name` (the shell script given)
    appended to its network, from a bin dir of its own searched first."""
    d = pods.d
    bindir = os.path.join(d.root, "bin")
    os.makedirs(bindir, exist_ok=True)
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o755)
    pods.c.close()
    d.stop()
    d.check_exit()
    d.config["cni"]["bin_dirs"] = [bindir, "/usr/lib/cni"]
    with open(d.config_path, "w") as f:
        json.dump(d.config, f)
    conf = conflist(d)
    conf["plugins"].append({"type": name})
    write_conf(d, conf)
    d.start()
    pods.c = d.client()


class Pods:
    """A berthd with a bridge CNI config and helpers to make pod configs."""

    def __init__(self, d):
        self.d = d
        self.pb = d.pb
        self.c = d.client()
        self.cgroup_parent = f"/berth-itest-{uuid.uuid4().hex[:10]}"

    def config(self, name="pod", hostname=None, ports=(), dns=None, host_network=False,
               labels=None, sysctls=None, pid_mode=None):
        pb = self.pb
        ns = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD,
                                pid=pb.CONTAINER if pid_mode is None else pid_mode)
        cfg = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace="default",
                                           uid=uuid.uuid4().hex, attempt=0),
            hostname=hostname or "",
            labels=labels or {},
            annotations={"a": "b"},
            port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=cp, host_port=hp)
                           for hp, cp in ports],
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                sysctls=sysctls or {},
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))
        if dns:
            cfg.dns_config.CopyFrom(pb.DNSConfig(**dns))
        return cfg

    def run(self, cfg, timeout=60):
        return self.c.call("RunPodSandbox", self.pb.RunPodSandboxRequest(config=cfg),
                           timeout=timeout).pod_sandbox_id

    def status(self, sid, verbose=False):
        return self.c.call("PodSandboxStatus",
                           self.pb.PodSandboxStatusRequest(pod_sandbox_id=sid, verbose=verbose))

    def info(self, sid):
        return json.loads(self.status(sid, verbose=True).info["info"])

    def stop(self, sid):
        self.c.call("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=sid),
                    timeout=60)

    def remove(self, sid):
        self.c.call("RemovePodSandbox", self.pb.RemovePodSandboxRequest(pod_sandbox_id=sid),
                    timeout=60)

    def list(self, **filt):
        f = self.pb.PodSandboxFilter(**filt)
        return list(self.c.call("ListPodSandbox",
                                self.pb.ListPodSandboxRequest(filter=f)).items)

    def in_host_netns(self, *argv, **kw):
        """Runs argv in the berthd's network namespace (the 'node')."""
        return subprocess.run(["nsenter", f"--net={self.d.netns.path}", *argv],
                              capture_output=True, text=True, **kw)


@pytest.fixture
def pods(berthd_factory):
    d = berthd_factory()
    p = Pods(d)
    write_conf(d, conflist(d))
    yield p
    sweep(d, p.cgroup_parent)


def test_pod_gets_ip_is_pingable_and_has_exact_files(pods):
    pb = pods.pb
    cfg = pods.config(name="web", hostname="web-0",
                      dns={"servers": ["10.96.0.10"], "searches": ["default.svc.cluster.local",
                                                                   "svc.cluster.local"],
                           "options": ["ndots:5"]},
                      sysctls={"net.ipv4.ip_unprivileged_port_start": "81"})
    sid = pods.run(cfg)
    st = pods.status(sid).status
    assert st.state == pb.SANDBOX_READY
    assert st.metadata.name == "web"
    assert st.network.ip.startswith("10.88.")
    assert st.linux.namespaces.options.network == pb.POD
    assert dict(st.annotations) == {"a": "b"}
    info = pods.info(sid)
    ns = info["ns_dir"]

    # pingable from the node
    r = pods.in_host_netns("busybox", "ping", "-c", "1", "-W", "5", st.network.ip)
    assert r.returncode == 0, r.stdout + r.stderr
    # the pod's netns has it on eth0, lo is up, the sysctl is set
    r = subprocess.run(["nsenter", f"--net={ns}/net", "ip", "-o", "-4", "addr", "show"],
                       capture_output=True, text=True, check=True)
    assert f"eth0    inet {st.network.ip}/16" in r.stdout.replace("\\", "")
    assert "lo    inet 127.0.0.1/8" in r.stdout
    r = subprocess.run(["nsenter", f"--net={ns}/net", "--uts={}/uts".format(ns), "sh", "-c",
                        "hostname; cat /proc/sys/net/ipv4/ip_unprivileged_port_start"],
                       capture_output=True, text=True, check=True)
    assert r.stdout == "web-0\n81\n"

    sdir = info["sandbox_dir"]
    assert open(os.path.join(sdir, "hostname")).read() == "web-0\n"
    assert open(os.path.join(sdir, "resolv.conf")).read() == (
        "search default.svc.cluster.local svc.cluster.local\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n")
    assert open(os.path.join(sdir, "hosts")).read() == (
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
        f"{st.network.ip}\tweb-0\n")
    assert os.path.join(sdir, "shm") in mountpoints_under(sdir)
    pods.stop(sid)
    pods.remove(sid)


def test_pod_without_dns_config_copies_host_resolv_conf(pods):
    sid = pods.run(pods.config(name="nodns"))
    sdir = pods.info(sid)["sandbox_dir"]
    assert open(os.path.join(sdir, "resolv.conf")).read() == open("/etc/resolv.conf").read()
    # no hostname given: the pod name
    assert open(os.path.join(sdir, "hostname")).read() == "nodns\n"
    pods.stop(sid)
    pods.remove(sid)


def test_two_pods_reach_each_other(pods):
    a = pods.run(pods.config(name="a"))
    b = pods.run(pods.config(name="b"))
    ip_b = pods.status(b).status.network.ip
    ns_a = pods.info(a)["ns_dir"]
    r = subprocess.run(["nsenter", f"--net={ns_a}/net", "busybox", "ping", "-c", "1", "-W", "5", ip_b],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for s in (a, b):
        pods.stop(s)
        pods.remove(s)


def test_host_network_pod_shares_node_netns(pods):
    pb = pods.pb
    sid = pods.run(pods.config(name="hostnet", host_network=True))
    st = pods.status(sid).status
    assert st.state == pb.SANDBOX_READY
    assert st.linux.namespaces.options.network == pb.NODE
    assert st.network.ip == ""
    info = pods.info(sid)
    assert info["netns"] == ""
    assert not os.path.exists(os.path.join(info["ns_dir"], "net"))
    # no CNI ran: no bridge in the node netns
    r = pods.in_host_netns("ip", "link", "show", "berth0")
    assert r.returncode != 0
    assert open(os.path.join(info["sandbox_dir"], "hostname")).read() == \
        socket.gethostname() + "\n"
    pods.stop(sid)
    pods.remove(sid)


def test_host_network_pod_with_hostname_refused(pods):
    """A host-network pod has the node's UTS namespace: its own hostname is refused before
    anything is made (containerd agrees), as is a sysctl of a namespace shared with the
    node; the same pod without them then runs under the same name."""
    pb = pods.pb
    cfg = pods.config(name="hn", hostname="mine", host_network=True)
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(cfg)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hostname 'mine'" in ei.value.details()
    assert "namespace_options.network NODE" in ei.value.details()
    bad_sysctl = pods.config(name="hn", host_network=True,
                             sysctls={"net.ipv4.ip_unprivileged_port_start": "81"})
    bad_sysctl.metadata.uid = cfg.metadata.uid
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(bad_sysctl)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "linux.sysctls 'net.ipv4.ip_unprivileged_port_start'" in ei.value.details()
    assert "namespace_options.network is NODE" in ei.value.details()
    ipc = pods.config(name="hn", sysctls={"kernel.shmmax": "65536"})
    ipc.linux.security_context.namespace_options.ipc = pb.NODE
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(ipc)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "namespace_options.ipc is NODE" in ei.value.details()
    # nothing was made: no record, no dirs, no mounts, and the name is free
    assert list(pods.c.call("ListPodSandbox", pb.ListPodSandboxRequest()).items) == []
    sbdir = os.path.join(pods.d.run_dir, "sandboxes")
    assert not os.path.isdir(sbdir) or os.listdir(sbdir) == []
    assert [m for m in mountpoints_under(pods.d.run_dir)
            if m != os.path.join(pods.d.run_dir, "ns")] == []
    cfg.hostname = ""
    sid = pods.run(cfg)
    assert pods.status(sid).status.metadata.uid == cfg.metadata.uid
    info = pods.info(sid)
    assert open(os.path.join(info["sandbox_dir"], "hostname")).read() == \
        socket.gethostname() + "\n"
    pods.stop(sid)
    pods.remove(sid)


def alive(pid):
    """True while pid runs (a zombie waiting for PID 1 to reap it is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def node_leftovers(pods, sid, info):
    """What a sandbox could leave on the node, as a dict of non-empty findings."""
    found = {}
    if os.path.exists(info["ns_dir"]):
        found["ns_dir"] = info["ns_dir"]
    if os.path.exists(info["sandbox_dir"]):
        found["sandbox_dir"] = info["sandbox_dir"]
    m = [mp for mp in mountpoints_under(pods.d.run_dir) if mp != os.path.join(pods.d.run_dir, "ns")]
    if m:
        found["mounts"] = m
    veths = pods.in_host_netns("ip", "-o", "link", "show", "master", "berth0").stdout
    if veths.strip():
        found["veths"] = veths
    rules = pods.in_host_netns("iptables", "-w", "-t", "nat", "-S").stdout + \
        pods.in_host_netns("iptables", "-w", "-S").stdout
    if sid in rules or (info.get("ip") and info["ip"] + "/32" in rules):
        found["iptables"] = rules
    for h in cgroup_hierarchies():
        if info["cgroup"] and os.path.exists(os.path.join(h, info["cgroup"].lstrip("/"))):
            found.setdefault("cgroups", []).append(h)
    cache = os.path.join(pods.d.state_dir, "cni")
    if os.path.isdir(cache) and any(f.startswith(sid) for f in os.listdir(cache)):
        found["cni_cache"] = os.listdir(cache)
    ipam = os.path.join(pods.d.root, "ipam", "berth-test")
    if info.get("ip") and os.path.exists(os.path.join(ipam, info["ip"])):
        found["ipam"] = info["ip"]
    if info["pid"] and alive(info["pid"]):
        found["init"] = info["pid"]
    return found


def test_stop_remove_leave_nothing_and_are_idempotent(pods):
    pb = pods.pb
    sid = pods.run(pods.config(name="clean", ports=[(18080, 80)], pid_mode=pb.POD))
    info = pods.info(sid)
    info["ip"] = pods.status(sid).status.network.ip
    assert info["pid"] > 0
    assert info["cgroup"].startswith(pods.cgroup_parent + "/berth-")
    procs = os.path.join(cgroup_hierarchies()[0], info["cgroup"].lstrip("/"), "cgroup.procs")
    assert str(info["pid"]) in open(procs).read().split()
    before = node_leftovers(pods, sid, info)
    assert {"ns_dir", "sandbox_dir", "veths", "iptables", "cgroups", "cni_cache", "ipam",
            "init"} <= set(before)

    pods.stop(sid)
    st = pods.status(sid).status
    assert st.state == pb.SANDBOX_NOTREADY
    poll(lambda: not alive(info["pid"]), 10, "pod init to die")
    pods.stop(sid)  # twice is fine
    assert [p.id for p in pods.list(state=pb.PodSandboxStateValue(state=pb.SANDBOX_NOTREADY))] \
        == [sid]
    pods.remove(sid)
    pods.remove(sid)  # twice is fine
    pods.stop(sid)  # and stop of a removed one
    assert node_leftovers(pods, sid, info) == {}
    with pytest.raises(grpc.RpcError) as ei:
        pods.status(sid)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    assert pods.list() == []


def test_broken_cni_config_fails_cleanly(pods):
    d = pods.d
    write_conf(d, '{"cniVersion": "1.0.0", "name": ')
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(pods.config(name="broken"))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10-test.conflist' is not valid JSON" in ei.value.details()
    write_conf(d, conflist(d, plugins=[{"type": "no-such-plugin"}]))
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(pods.config(name="broken"))
    assert "plugin 'no-such-plugin' not found" in ei.value.details()
    # nothing left: no record, no pins, no mounts, the name is free again
    assert pods.list() == []
    nsroot = os.path.join(d.run_dir, "ns")
    assert [e for e in os.listdir(nsroot) if not e.startswith(".")] == []
    assert [m for m in mountpoints_under(d.run_dir) if m != nsroot] == []
    write_conf(d, conflist(d))
    cfg = pods.config(name="broken")
    sid = pods.run(cfg)
    pods.stop(sid)
    pods.remove(sid)


def test_failing_plugin_error_reaches_client(pods):
    d = pods.d
    bindir = os.path.join(d.root, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "failer"), "w") as f:
        f.write("#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
                "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no luck\"}'\nexit 1\n")
    os.chmod(os.path.join(bindir, "failer"), 0o755)
    d.stop()
    d.check_exit()
    d.config["cni"]["bin_dirs"] = [bindir, "/usr/lib/cni"]
    with open(d.config_path, "w") as f:
        json.dump(d.config, f)
    conf = conflist(d)
    conf["plugins"].append({"type": "failer"})
    write_conf(d, conf)
    d.start()
    pods.c = d.client()
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(pods.config(name="fails"))
    assert "plugin 'failer' failed: no luck (code 11)" in ei.value.details()
    veths = pods.in_host_netns("ip", "-o", "link", "show", "master", "berth0").stdout
    assert veths.strip() == ""
    assert pods.list() == []


def test_twenty_pods_in_parallel_get_distinct_ips(pods):
    # One pod first: Debian's CNI firewall plugin (1.1.1) checks for its shared chains
    # (CNI-FORWARD, CNI-ADMIN) and then creates them, so the first ADDs in a fresh netns
    # can race to "chain already exists" (kubelet would retry the sandbox). This test is
    # about parallel pods getting distinct addresses, so the chains exist before.
    first = pods.run(pods.config(name="par-warm"))
    pods.stop(first)
    pods.remove(first)
    cfgs = [pods.config(name=f"par-{i}") for i in range(20)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
        ids = list(ex.map(lambda c: pods.run(c, timeout=120), cfgs))
    ips = [pods.status(s).status.network.ip for s in ids]
    assert all(ip.startswith("10.88.") for ip in ips)
    assert len(set(ips)) == 20
    assert len(pods.list()) == 20
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as ex:
        list(ex.map(lambda s: (pods.stop(s), pods.remove(s)), ids))
    assert pods.list() == []
    veths = pods.in_host_netns("ip", "-o", "link", "show", "master", "berth0").stdout
    assert veths.strip() == ""


def test_list_filters(pods):
    pb = pods.pb
    a = pods.run(pods.config(name="la", labels={"app": "x", "tier": "web"}))
    b = pods.run(pods.config(name="lb", labels={"app": "x"}, host_network=True))
    pods.stop(b)
    assert {p.id for p in pods.list()} == {a, b}
    assert [p.id for p in pods.list(id=a[:12])] == [a]
    assert [p.id for p in pods.list(label_selector={"tier": "web"})] == [a]
    assert {p.id for p in pods.list(label_selector={"app": "x"})} == {a, b}
    ready = pods.list(state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY))
    assert [p.id for p in ready] == [a]
    assert ready[0].metadata.name == "la"
    assert dict(ready[0].labels) == {"app": "x", "tier": "web"}
    for s in (a, b):
        pods.stop(s)
        pods.remove(s)


def serve_once_in(netns, port):
    """A TCP server in the pod's netns that answers 'pong' to one client."""
    code = ("import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
            "socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',%d));s.listen(4);print('ready',flush=True)\n"
            "while True:\n c,_=s.accept();c.sendall(b'pong');c.close()\n" % port)
    p = subprocess.Popen(["nsenter", f"--net={netns}", "/usr/bin/python3", "-c", code],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    return p


def test_host_port_answers_on_localhost_and_node_address(pods):
    # the node's own address, on a veth pair in the berthd's netns
    r = pods.in_host_netns("sh", "-c", "ip link add n0 type veth peer name n1 && "
                           "ip addr add 192.0.2.10/24 dev n0 && ip link set n0 up && "
                           "ip link set n1 up")
    assert r.returncode == 0, r.stderr
    sid = pods.run(pods.config(name="hp", ports=[(18090, 8080)]))
    ns = pods.info(sid)["ns_dir"]
    server = serve_once_in(f"{ns}/net", 8080)
    try:
        client = ("import socket,sys;c=socket.create_connection((sys.argv[1],18090),timeout=5);"
                  "print(c.recv(16).decode())")
        for addr in ("127.0.0.1", "192.0.2.10"):
            r = pods.in_host_netns("/usr/bin/python3", "-c", client, addr)
            assert r.stdout == "pong\n", (addr, r.stderr)
    finally:
        server.kill()
        server.wait()
    pods.stop(sid)
    pods.remove(sid)


def test_bad_requests(pods):
    pb = pods.pb
    with pytest.raises(grpc.RpcError) as ei:
        pods.c.call("RunPodSandbox", pb.RunPodSandboxRequest())
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    cfg = pods.config(name="dup")
    sid = pods.run(cfg)
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(cfg)
    assert ei.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert sid in ei.value.details()
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(pods.config(name="sys", sysctls={"kernel.panic": "1"}))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sysctl 'kernel.panic' is not namespaced" in ei.value.details()
    with pytest.raises(grpc.RpcError) as ei:
        pods.c.call("RunPodSandbox", pb.RunPodSandboxRequest(config=pods.config(name="rh"),
                                                             runtime_handler="nope"))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # a bad DNS config is refused before anything is made (it used to be found when
    # the files were written, after CNI ADD): no network is left either
    with pytest.raises(grpc.RpcError) as ei:
        pods.run(pods.config(name="baddns", dns={"servers": ["not-an-ip"]}))
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "dns server 'not-an-ip' is not an IP address" in ei.value.details()
    assert pods.in_host_netns("ip", "-o", "link", "show", "master", "berth0").stdout.count(
        "veth") == 1  # only the "dup" pod's
    ipam = os.path.join(pods.d.root, "ipam", "berth-test")
    assert len([f for f in os.listdir(ipam) if f.startswith("10.")]) == 1
    with pytest.raises(grpc.RpcError) as ei:
        pods.status("0" * 64)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    pods.stop(sid)
    pods.remove(sid)
    assert pods.list() == []


def test_stop_remove_after_daemon_crash_and_conf_change(pods):
    """CNI DEL after kill -9 and a restart uses the cached config, even when
    the conf dir changed meanwhile."""
    pb = pods.pb
    d = pods.d
    sid = pods.run(pods.config(name="crash", ports=[(18091, 80)]))
    info = pods.info(sid)
    info["ip"] = pods.status(sid).status.network.ip
    pods.c.close()  # its connection dies with the daemon
    d.kill()
    write_conf(d, conflist(d, plugins=[{"type": "no-such-plugin"}]))
    d.start()
    pods.c = d.client()
    st = pods.status(sid).status
    assert st.state == pb.SANDBOX_READY
    assert st.network.ip == info["ip"]
    pods.stop(sid)
    pods.remove(sid)
    assert node_leftovers(pods, sid, info) == {}


def test_pin_root_goes_with_berthd_only_when_no_pod_is_left(pods):
    """berth-pinns binds the pin root onto itself; a berthd stopped with a pod still
    pinned keeps it (the pod's pins live in it, and it survives the restart), one
    stopped with none leaves no mount behind."""
    pb = pods.pb
    d = pods.d
    nsroot = os.path.join(d.run_dir, "ns")
    sid = pods.run(pods.config(name="pinned"))
    pods.c.close()
    code, _ = d.stop()
    assert code == 0
    assert nsroot in mountpoints_under(d.run_dir)
    assert any(m.startswith(nsroot + "/") for m in mountpoints_under(d.run_dir))
    d.start()
    pods.c = d.client()
    assert pods.status(sid).status.state == pb.SANDBOX_READY
    pods.stop(sid)
    pods.remove(sid)
    pods.c.close()
    code, _ = d.stop()
    assert code == 0
    assert "unmounted the pin root" in d.stderr()
    assert mountpoints_under(d.run_dir) == []
    # and the next pod makes it again
    d.start()
    pods.c = d.client()
    sid = pods.run(pods.config(name="again"))
    assert nsroot in mountpoints_under(d.run_dir)
    pods.stop(sid)
    pods.remove(sid)


def test_long_pod_name_gives_a_dns_label_hostname(pods):
    name = "a" * 62 + "-" + "b" * 10
    sid = pods.run(pods.config(name=name))
    info = pods.info(sid)
    assert open(os.path.join(info["sandbox_dir"], "hostname")).read() == "a" * 62 + "\n"
    r = subprocess.run(["nsenter", f"--uts={info['ns_dir']}/uts", "hostname"],
                       capture_output=True, text=True, check=True)
    assert r.stdout == "a" * 62 + "\n"
    pods.stop(sid)
    pods.remove(sid)


def test_run_interrupted_by_crash_is_undone_by_stop_and_remove(pods):
    """kill -9 while a CNI plugin hangs in RunPodSandbox: after the restart the
    sandbox is listed NOTREADY, and Stop + Remove undo everything Run made."""
    pb = pods.pb
    d = pods.d
    marker = os.path.join(d.root, "hang.pid")
    restart_with_plugin(pods, "hang",
                        "#!/bin/sh\ncat >/dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
                        f"echo $$ > {marker}.tmp && mv {marker}.tmp {marker}\n"
                        "exec sleep 600\n")
    fut = pods.c.future("RunPodSandbox", pb.RunPodSandboxRequest(
        config=pods.config(name="interrupted", pid_mode=pb.POD)), timeout=60)
    poll(lambda: os.path.exists(marker), 20, "the hanging plugin")
    hang_pid = int(open(marker).read())
    pods.c.close()
    d.kill()
    os.kill(hang_pid, signal.SIGKILL)
    with pytest.raises(grpc.RpcError):
        fut.result()

    write_conf(d, conflist(d))
    d.start()
    pods.c = d.client()
    items = pods.list()
    assert [p.metadata.name for p in items] == ["interrupted"]
    assert items[0].state == pb.SANDBOX_NOTREADY
    sid = items[0].id
    info = pods.info(sid)
    ns = info["ns_dir"]
    info["pid"] = int(open(os.path.join(ns, "init-pid")).read())
    ips = [f for f in os.listdir(os.path.join(d.root, "ipam", "berth-test"))
           if f.startswith("10.")]
    assert len(ips) == 1
    info["ip"] = ips[0]
    before = node_leftovers(pods, sid, info)
    assert {"ns_dir", "veths", "cni_cache", "ipam", "init", "cgroups"} <= set(before)
    pods.stop(sid)
    pods.remove(sid)
    assert node_leftovers(pods, sid, info) == {}
    assert pods.list() == []


def test_failed_cni_del_fails_stop_until_it_works(pods):
    """A plugin whose DEL fails: Stop retries, then fails with the plugin's
    text and keeps the sandbox; once DEL works, Stop and Remove succeed."""
    d = pods.d
    allow = os.path.join(d.root, "allow-del")
    restart_with_plugin(pods, "faildel",
                        "#!/bin/sh\ncat >/dev/null\n"
                        "if [ \"$CNI_COMMAND\" = ADD ]; then "
                        "echo '{\"cniVersion\":\"1.0.0\"}'; exit 0; fi\n"
                        f"[ -e {allow} ] && exit 0\n"
                        "echo '{\"code\":5,\"msg\":\"cannot delete yet\"}'; exit 1\n")
    sid = pods.run(pods.config(name="faildel"))
    with pytest.raises(grpc.RpcError) as ei:
        pods.stop(sid)
    assert "plugin 'faildel' failed: cannot delete yet (code 5)" in ei.value.details()
    assert d.stderr().count("CNI DEL: ") == 2  # two retries logged, the third failure returned
    assert pods.status(sid).status.state == pods.pb.SANDBOX_READY
    open(allow, "w").close()
    pods.stop(sid)
    pods.remove(sid)
    assert pods.list() == []
