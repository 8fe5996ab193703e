# SPDX-License-Identifier: Apache-2.0
"""Helpers of the container tests: a berthd with a bridge network and a registry in its
network namespace, pod and container configs, waiting on states, and the leak checks
(mounts, shims, runc containers, cgroups) run after every test, which also sweep what a
failing test left so the next one starts clean.

The fixtures net, reg and env serve every module that runs containers: import them with
`from ctrutil import env, net, reg` next to `from registry import test_images`."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid

import grpc
import pytest

from conftest import Netns, poll
from registry import Registry, push_all

CGROUP_ROOT = "/sys/fs/cgroup"
RUNC = shutil.which("runc") or "/usr/sbin/runc"


def bridge_conflist(d):
    """berth0 10.88.0.0/16, host-local state in the test's own dir, portmap."""
    return {"cniVersion": "1.0.0", "name": "berth-ctr-test", "plugins": [
        {"type": "bridge", "bridge": "berth0", "isGateway": True, "ipMasq": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]],
                  "routes": [{"dst": "0.0.0.0/0"}],
                  "dataDir": os.path.join(d.root, "ipam")}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}


def mountpoints_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return out


def procs_mentioning(text):
    """PIDs whose command line contains text (shims carry their bundle path)."""
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    out.append(int(e))
        except OSError:
            pass
    return out


def cgroup_dirs(rel):
    """Existing dirs of cgroup path rel in any hierarchy."""
    out = []
    for h in os.listdir(CGROUP_ROOT):
        p = os.path.join(CGROUP_ROOT, h, rel.lstrip("/"))
        if os.path.isdir(p):
            out.append(p)
    p = os.path.join(CGROUP_ROOT, rel.lstrip("/"))
    if os.path.isdir(p):
        out.append(p)
    return out


def remove_cgroup_tree(rel):
    for top in cgroup_dirs(rel):
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def runc_containers(d):
    root = os.path.join(d.run_dir, "runtimes", "runc")
    if not os.path.isdir(root):
        return []
    out = subprocess.run([RUNC, "--root", root, "list", "-q"], capture_output=True, text=True)
    return [l for l in out.stdout.split() if l]


class Env:
    """A berthd (in `net`, where the registry runs) with a bridge network; .pull(name),
    .pod(), .create(), ... return IDs or responses of the real RPCs."""

    def __init__(self, d, reg):
        self.d, self.pb, self.reg = d, d.pb, reg
        self.c = d.client()
        self.cgroup_parent = f"/berth-ctest-{uuid.uuid4().hex[:10]}"
        self.logdir = tempfile.mkdtemp(prefix="berth-ctr-logs-")
        with open(os.path.join(d.cni_dir, "10-test.conflist"), "w") as f:
            json.dump(bridge_conflist(d), f)

    def call(self, name, req, timeout=60):
        return self.c.call(name, req, timeout=timeout)

    def image(self, name):
        return f"{self.reg.host}/test/{name}:1"

    def pull(self, name="busybox"):
        ref = self.image(name)
        self.call("PullImage", self.pb.PullImageRequest(image=self.pb.ImageSpec(image=ref)),
                  timeout=120)
        return ref

    def pod_config(self, name="pod", pid=None, host_network=False, ipc=None):
        pb = self.pb
        ns = pb.NamespaceOption(network=pb.NODE if host_network else pb.POD,
                                pid=pb.CONTAINER if pid is None else pid,
                                ipc=pb.POD if ipc is None else ipc)
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace="default",
                                           uid=uuid.uuid4().hex, attempt=0),
            log_directory=os.path.join(self.logdir, name),
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))

    def pod(self, name="pod", **kw):
        cfg = self.pod_config(name, **kw)
        sid = self.call("RunPodSandbox", self.pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        return sid, cfg

    def ctr_config(self, name, image="busybox", command=None, args=None, **kw):
        pb = self.pb
        cfg = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                                 image=pb.ImageSpec(image=self.image(image)),
                                 command=command or [], args=args or [],
                                 log_path=f"{name}/0.log", labels={"app": name},
                                 annotations={"note": "x"}, **kw)
        return cfg

    def create(self, pod, cfg):
        sid, pcfg = pod
        return self.call("CreateContainer", self.pb.CreateContainerRequest(
            pod_sandbox_id=sid, config=cfg, sandbox_config=pcfg)).container_id

    def start(self, cid):
        self.call("StartContainer", self.pb.StartContainerRequest(container_id=cid))

    def run(self, pod, name, command, **kw):
        cid = self.create(pod, self.ctr_config(name, command=command, **kw))
        self.start(cid)
        return cid

    def stop(self, cid, timeout=0, rpc_timeout=60):
        self.call("StopContainer", self.pb.StopContainerRequest(container_id=cid,
                                                                timeout=timeout),
                  timeout=rpc_timeout)

    def remove(self, cid):
        self.call("RemoveContainer", self.pb.RemoveContainerRequest(container_id=cid))

    def status(self, cid, verbose=False):
        return self.call("ContainerStatus", self.pb.ContainerStatusRequest(
            container_id=cid, verbose=verbose))

    def info(self, cid):
        return json.loads(self.status(cid, verbose=True).info["info"])

    def state(self, cid):
        return self.status(cid).status.state

    def wait_exited(self, cid, timeout=30):
        poll(lambda: self.state(cid) == self.pb.CONTAINER_EXITED, timeout, f"{cid} to exit")
        return self.status(cid).status

    def exec(self, cid, cmd, timeout=10, rpc_timeout=60):
        return self.call("ExecSync", self.pb.ExecSyncRequest(container_id=cid, cmd=cmd,
                                                             timeout=timeout),
                         timeout=rpc_timeout)

    def list(self, **filt):
        return list(self.call("ListContainers", self.pb.ListContainersRequest(
            filter=self.pb.ContainerFilter(**filt))).containers)

    def log_records(self, cid):
        """The CRI log as (stream, tag, text) tuples."""
        path = self.status(cid).status.log_path
        out = []
        with open(path, "rb") as f:
            for line in f.read().split(b"\n")[:-1]:
                ts, stream, tag, text = line.split(b" ", 3)
                assert ts.endswith(b"Z")
                out.append((stream.decode(), tag.decode(), text))
        return out

    def cleanup(self):
        """Removes every container and pod through the RPCs, then sweeps what is left
        (a failed test may leave things) and returns a list of leaks found before the
        sweep."""
        leaks = []
        if self.d.running():
            try:
                for ct in self.list():
                    self.remove(ct.id)
                for p in self.call("ListPodSandbox", self.pb.ListPodSandboxRequest()).items:
                    self.call("StopPodSandbox", self.pb.StopPodSandboxRequest(pod_sandbox_id=p.id))
                    self.call("RemovePodSandbox",
                              self.pb.RemovePodSandboxRequest(pod_sandbox_id=p.id))
            except grpc.RpcError as e:
                leaks.append(f"cleanup RPC failed: {e.details()}")
        leaks += self.leaks()
        self.sweep()
        shutil.rmtree(self.logdir, ignore_errors=True)
        return leaks

    def leaks(self, pods=True):
        """Leaks of containers (and with pods, of pods too) found on the host."""
        out = []
        shims = procs_mentioning(os.path.join(self.d.run_dir, "c") + "/")
        if shims:
            out.append(f"shim processes left: {shims}")
        # the pin root's own bind mount (netns/) stays for the berthd's life
        mps = [m for m in mountpoints_under(self.d.root)
               if m != os.path.join(self.d.run_dir, "ns")]
        if not pods:
            mps = [m for m in mps if m.startswith(os.path.join(self.d.run_dir, "c") + "/")]
        if mps:
            out.append(f"mounts left: {mps}")
        rc = runc_containers(self.d)
        if rc:
            out.append(f"runc containers left: {rc}")
        # pods=True: nothing under the parent; else no container cgroup in a pod's
        cg = []
        for p in cgroup_dirs(self.cgroup_parent):
            for dirpath, dirs, _ in os.walk(p):
                depth = dirpath[len(p):].count("/")
                if dirs and (pods or depth >= 1):
                    cg.append(dirpath)
        if cg:
            out.append(f"cgroups left under {cg}")
        cdir = os.path.join(self.d.run_dir, "c")
        if os.path.isdir(cdir) and os.listdir(cdir):
            out.append(f"bundles left: {os.listdir(cdir)}")
        return out

    def sweep(self):
        for pid in procs_mentioning(self.d.root + "/"):
            if pid != self.d.proc.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        root = os.path.join(self.d.run_dir, "runtimes", "runc")
        for cid in runc_containers(self.d):
            subprocess.run([RUNC, "--root", root, "delete", "-f", cid], capture_output=True)
        nsroot = os.path.join(self.d.run_dir, "ns")
        if os.path.isdir(nsroot):
            for e in os.listdir(nsroot):
                try:
                    pid = int(open(os.path.join(nsroot, e, "init-pid")).read())
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
        for mp in sorted(mountpoints_under(self.d.root), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
        remove_cgroup_tree(self.cgroup_parent)


@pytest.fixture(scope="module")
def net():
    """A network namespace for the module's registry and berthds."""
    n = Netns()
    yield n
    n.delete()


@pytest.fixture(scope="module")
def reg(net, test_images):
    """docker-registry in net with every test image (registry.push_all)."""
    layout, _ = test_images
    d = tempfile.mkdtemp(prefix="berth-registry-")
    r = Registry(d, netns=net.path)
    try:
        r.start()
        push_all(r, layout)
        yield r
    finally:
        r.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(berthd_factory, net, reg):
    """An Env on a fresh berthd in net with busybox pulled; its leak check runs after."""
    d = berthd_factory(netns=net)
    e = Env(d, reg)
    e.pull("busybox")
    try:
        yield e
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks
