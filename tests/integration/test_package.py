# SPDX-License-Identifier: Apache-2.0
"""The Debian package (issue 15), built by CPack from this tree (scripts/package.sh; the
test command builds it first and passes BERTH_DEB): its control data, files, conffiles
and maintainer scripts, lintian, the man pages, and its whole life with dpkg in a
throwaway root (dpkg --root: install, upgrade, remove, purge, with the maintainer scripts
run against that root). Last, the packaged binaries go through what an upgrade does to
a node with a running container: berthd alone is stopped (KillMode=process) and started
again, and the container's shim carries on.

No debootstrap chroot: it needs the Debian mirror, which the test command does not
reach; the dpkg --root installation runs the same maintainer scripts instead."""
import gzip
import json
import os
import shutil
import stat
import subprocess
import tempfile

import grpc
import pytest

from conftest import poll
from ctrutil import Env, net, procs_mentioning, reg  # noqa: F401
from registry import test_images  # noqa: F401

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def deb():
    path = os.environ.get("BERTH_DEB")
    if not path:
        out = run(["bash", os.path.join(TOP, "scripts", "package.sh")], cwd=TOP)
        assert out.returncode == 0, out.stdout + out.stderr
        path = out.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), path
    return path


@pytest.fixture(scope="module")
def tree(deb):
    """The package's files, extracted (dpkg-deb -x), and its control files (-e)."""
    d = tempfile.mkdtemp(prefix="berth-deb-")
    try:
        assert run(["dpkg-deb", "-x", deb, os.path.join(d, "root")]).returncode == 0
        assert run(["dpkg-deb", "-e", deb, os.path.join(d, "control")]).returncode == 0
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def field(deb, name):
    out = run(["dpkg-deb", "-f", deb, name])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_control_fields(deb):
    assert field(deb, "Package") == "berth"
    assert field(deb, "Architecture") == run(["dpkg", "--print-architecture"]).stdout.strip()
    depends = [d.strip().split(" ")[0] for d in field(deb, "Depends").split(",")]
    # what berth runs, and the runtime libraries its binaries link (dpkg-shlibdeps)
    for pkg in ("runc", "containernetworking-plugins", "iptables", "init-system-helpers",
                "libc6", "libgrpc29", "libprotobuf-c1", "libjson-c5", "libcurl4",
                "libarchive13", "libssl3", "libnl-3-200", "libnl-route-3-200"):
        assert pkg in depends, (pkg, depends)
    # every Depends is a package this Debian 12 has (installed here)
    for pkg in depends:
        st = run(["dpkg-query", "-W", "-f=${Status}", pkg])
        assert st.stdout == "install ok installed", (pkg, st.stdout + st.stderr)
    assert "golang-github-containers-common" in field(deb, "Recommends")
    desc = field(deb, "Description").splitlines()
    assert desc[0] == "Kubernetes CRI container runtime written in C" and len(desc) > 2


EXPECTED = {
    "usr/bin/berthd": 0o755,
    "usr/libexec/berth/berth-shim": 0o755,
    "usr/libexec/berth/berth-exec": 0o755,
    "usr/libexec/berth/berth-pinns": 0o755,
    "usr/libexec/berth/berth-pull": 0o755,
    "lib/systemd/system/berthd.service": 0o644,
    "etc/berth/berth.json": 0o644,
    "etc/logrotate.d/berth": 0o644,
    "usr/share/berth/10-berth.conflist": 0o644,
    "usr/share/berth/crictl.yaml": 0o644,
    "usr/share/man/man8/berthd.8.gz": 0o644,
    "usr/share/man/man5/berth.json.5.gz": 0o644,
    "usr/share/doc/berth/copyright": 0o644,
    "usr/share/doc/berth/changelog.gz": 0o644,
    "usr/share/doc/berth/README.md": 0o644,
    "usr/share/doc/berth/config.md": 0o644,
    "usr/share/doc/berth/kubelet.md": 0o644,
}


def test_files_and_conffiles(tree):
    root = os.path.join(tree, "root")
    for rel, mode in EXPECTED.items():
        st = os.lstat(os.path.join(root, rel))
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode, rel
        assert (st.st_uid, st.st_gid) == (0, 0), rel
    assert os.path.isdir(os.path.join(root, "etc/berth/berth.d"))
    # nothing in /etc that is not a conffile, nothing outside the expected dirs
    with open(os.path.join(tree, "control", "conffiles")) as f:
        conffiles = f.read().split()
    assert sorted(conffiles) == ["/etc/berth/berth.json", "/etc/logrotate.d/berth"]
    for d, _, names in os.walk(os.path.join(root, "etc")):
        for n in names:
            assert "/" + os.path.relpath(os.path.join(d, n), root) in conffiles
    tops = sorted(os.listdir(root))
    assert tops == ["etc", "lib", "usr"]
    # the binaries are the berth built from this tree, for /usr
    out = run([os.path.join(root, "usr/bin/berthd"), "--print-config",
               "--config-dir", os.path.join(tree, "control")])  # no *.json there
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["libexec_dir"] == "/usr/libexec/berth"
    # the shipped config is the reference one
    with open(os.path.join(root, "etc/berth/berth.json")) as a, \
            open(os.path.join(TOP, "scripts/berth.json")) as b:
        assert a.read() == b.read()


def test_systemd_unit(tree):
    with open(os.path.join(tree, "root", "lib/systemd/system/berthd.service")) as f:
        lines = [x.strip() for x in f if "=" in x and not x.startswith("#")]
    unit = dict(x.split("=", 1) for x in lines)
    assert unit["Type"] == "notify"
    assert unit["KillMode"] == "process"  # shims outlive a restart
    assert unit["Delegate"] == "yes"
    assert unit["ExecStart"] == "/usr/bin/berthd"
    assert unit["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["WantedBy"] == "multi-user.target"
    assert "man:berthd(8)" in unit["Documentation"]
    assert "file:///usr/share/doc/berth/README.md" in unit["Documentation"]


def test_systemd_unit_verifies(tree):
    """systemd-analyze verify (systemd's own parser) takes the unit without a word, with
    ExecStart pointed at the extracted berthd (there is no /usr/bin/berthd here)."""
    root = os.path.join(tree, "root")
    d = tempfile.mkdtemp(prefix="berth-unit-")
    try:
        with open(os.path.join(root, "lib/systemd/system/berthd.service")) as f:
            text = f.read()
        unit = os.path.join(d, "berthd.service")
        with open(unit, "w") as f:
            f.write(text.replace("ExecStart=/usr/bin/berthd",
                                 f"ExecStart={root}/usr/bin/berthd"))
        out = run(["systemd-analyze", "verify", "--man=no", unit])
        assert out.returncode == 0 and out.stdout + out.stderr == "", out.stdout + out.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_maintainer_scripts(tree):
    ctl = os.path.join(tree, "control")
    for name in ("postinst", "prerm", "postrm"):
        p = os.path.join(ctl, name)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o755, name
        with open(p) as f:
            text = f.read()
        assert text.startswith("#!/bin/sh\n") and "set -e" in text, name
        assert run(["sh", "-n", p]).returncode == 0, name
        assert '"${DPKG_ROOT:-}"' in text, name  # every path follows dpkg --root
    assert not os.path.exists(os.path.join(ctl, "preinst"))


def test_lintian_finds_no_errors(deb):
    out = run(["lintian", "--tag-display-limit", "0", deb])
    tags = [x for x in out.stdout.splitlines() if x[:2] in ("E:", "W:", "I:", "O:")]
    errors = [x for x in tags if x.startswith("E:")]
    assert errors == [], out.stdout
    assert out.returncode == 0, out.stdout + out.stderr
    warnings = [x for x in tags if x.startswith("W:")]
    assert warnings == [], warnings


@pytest.mark.parametrize("page,name", [("man8/berthd.8.gz", "BERTHD"),
                                       ("man5/berth.json.5.gz", "BERTH.JSON")])
def test_man_pages_render_without_warnings(tree, page, name):
    path = os.path.join(tree, "root", "usr/share/man", page)
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80", MANROFFSEQ="")
    # what lintian's groff-message check runs
    out = run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path], env=env)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    text = run(["man", "-l", path], env=dict(env, MANPAGER="cat", PAGER="cat")).stdout
    assert text.startswith(f"{name}(")
    for section in ("NAME", "DESCRIPTION", "FILES", "SEE ALSO"):
        assert f"\n{section}\n" in text, section
    with gzip.open(path, "rt") as f:
        assert f.read().startswith('.\\" SPDX-License-Identifier: Apache-2.0')


# ---- dpkg --root ----

class Root:
    """A throwaway root with a dpkg database that knows this host's packages (so the
    Depends are checked for real) and none of their files."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="berth-dpkg-root-")
        admin = os.path.join(self.path, "var/lib/dpkg")
        os.makedirs(os.path.join(admin, "info"))
        os.makedirs(os.path.join(admin, "updates"))
        shutil.copy("/var/lib/dpkg/status", os.path.join(admin, "status"))
        open(os.path.join(admin, "available"), "w").close()
        pkgs = run(["dpkg-query", "-W", "-f=${binary:Package}\n"]).stdout.split()
        for p in pkgs:
            open(os.path.join(admin, "info", f"{p}.list"), "w").close()

    def p(self, rel):
        return os.path.join(self.path, rel.lstrip("/"))

    def dpkg(self, *args):
        # --force-script-chrootless: the scripts run here, with DPKG_ROOT set
        out = run(["dpkg", f"--root={self.path}", "--force-script-chrootless", *args])
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout + out.stderr

    def status(self):
        out = run(["dpkg-query", f"--admindir={self.p('var/lib/dpkg')}", "-W",
                   "-f=${db:Status-Abbrev}${Version}", "berth"])
        return out.stdout.strip() if out.returncode == 0 else None

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def root():
    r = Root()
    yield r
    r.close()


@pytest.fixture(scope="module")
def deb_next(deb, tree):
    """The same package as version 0.1.0+next, for an upgrade."""
    d = tempfile.mkdtemp(prefix="berth-deb-next-")
    try:
        pkg = os.path.join(d, "pkg")
        shutil.copytree(os.path.join(tree, "root"), pkg, symlinks=True)
        shutil.copytree(os.path.join(tree, "control"), os.path.join(pkg, "DEBIAN"))
        ctl = os.path.join(pkg, "DEBIAN", "control")
        with open(ctl) as f:
            text = f.read()
        version = field(deb, "Version")
        with open(ctl, "w") as f:
            f.write(text.replace(f"Version: {version}\n", f"Version: {version}+next\n"))
        out_deb = os.path.join(d, "berth_next.deb")
        out = run(["dpkg-deb", "--root-owner-group", "-b", pkg, out_deb])
        assert out.returncode == 0, out.stdout + out.stderr
        yield out_deb, f"{version}+next"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def read(path):
    with open(path) as f:
        return f.read()


def test_dpkg_install_upgrade_remove_purge(root, deb, deb_next):
    version = field(deb, "Version")
    out = root.dpkg("-i", deb)
    assert root.status() == f"ii {version}"
    assert "enabled the example CNI network /etc/cni/net.d/10-berth.conflist" in out
    for rel in EXPECTED:
        assert os.path.isfile(root.p(rel)), rel
    assert read(root.p("etc/cni/net.d/10-berth.conflist")) == \
        read(os.path.join(TOP, "scripts/10-berth.conflist"))
    assert "runtime-endpoint: unix:///run/berth/berth.sock" in read(root.p("etc/crictl.yaml"))
    assert stat.S_IMODE(os.stat(root.p("var/lib/berth")).st_mode) == 0o711
    # enabled, as dh_installsystemd does, in the root's own systemd dirs
    wants = root.p("etc/systemd/system/multi-user.target.wants/berthd.service")
    assert os.readlink(wants) == "/lib/systemd/system/berthd.service"

    # upgrade: the admin's edit of a conffile stays, the examples are not re-added
    with open(root.p("etc/berth/berth.json"), "a") as f:
        f.write("// local edit\n")
    os.remove(root.p("etc/crictl.yaml"))
    next_deb, next_version = deb_next
    out = root.dpkg("-i", next_deb)
    assert root.status() == f"ii {next_version}"
    assert read(root.p("etc/berth/berth.json")).endswith("// local edit\n")
    assert not os.path.exists(root.p("etc/crictl.yaml"))
    assert "example CNI" not in out
    assert os.path.islink(wants)

    # some state, as a node that ran pods has it
    os.makedirs(root.p("var/lib/berth/image/blobs"))
    os.makedirs(root.p("var/log"), exist_ok=True)
    for name in ("berthd.log", "berthd.log.1.gz"):
        with open(root.p(f"var/log/{name}"), "w") as f:
            f.write("x\n")

    # remove: binaries gone; config, examples and state stay; the unit is masked
    root.dpkg("-r", "berth")
    assert root.status() == f"rc {next_version}"
    assert not os.path.exists(root.p("usr/bin/berthd"))
    assert not os.path.exists(root.p("usr/libexec/berth"))
    assert not os.path.exists(root.p("lib/systemd/system/berthd.service"))
    assert read(root.p("etc/berth/berth.json")).endswith("// local edit\n")
    assert os.path.exists(root.p("etc/cni/net.d/10-berth.conflist"))
    assert os.path.isdir(root.p("var/lib/berth/image/blobs"))
    assert os.path.exists(root.p("var/lib/systemd/deb-systemd-helper-masked/berthd.service"))

    # purge: config, unchanged examples, state, log and the systemd state all go
    root.dpkg("-P", "berth")
    assert root.status() is None
    for rel in ("etc/berth", "etc/logrotate.d/berth", "etc/cni/net.d/10-berth.conflist",
                "var/lib/berth", "var/log/berthd.log", "var/log/berthd.log.1.gz",
                "etc/systemd/system/berthd.service",
                "var/lib/systemd/deb-systemd-helper-masked/berthd.service",
                "var/lib/systemd/deb-systemd-helper-enabled/berthd.service.dsh-also"):
        assert not os.path.lexists(root.p(rel)), rel
    assert not os.path.lexists(wants)
    assert os.path.isdir(root.p("etc/cni/net.d"))  # not ours alone


def test_dpkg_install_keeps_an_existing_network(root, deb):
    """A node that already has a CNI network keeps it as the one berth uses; a crictl.yaml
    already there stays; purge leaves both, and an example the admin changed stays too."""
    os.makedirs(root.p("etc/cni/net.d"))
    other = {"cniVersion": "1.0.0", "name": "cluster", "plugins": [{"type": "bridge"}]}
    with open(root.p("etc/cni/net.d/05-cluster.conflist"), "w") as f:
        json.dump(other, f)
    with open(root.p("etc/crictl.yaml"), "w") as f:
        f.write("runtime-endpoint: unix:///run/containerd/containerd.sock\n")
    out = root.dpkg("-i", deb)
    assert "already has a network config" in out
    assert sorted(os.listdir(root.p("etc/cni/net.d"))) == ["05-cluster.conflist"]
    assert "containerd" in read(root.p("etc/crictl.yaml"))
    root.dpkg("-P", "berth")
    assert sorted(os.listdir(root.p("etc/cni/net.d"))) == ["05-cluster.conflist"]
    assert "containerd" in read(root.p("etc/crictl.yaml"))

    # fresh install with no network, the admin edits the example: purge keeps it
    os.remove(root.p("etc/cni/net.d/05-cluster.conflist"))
    root.dpkg("-i", deb)
    with open(root.p("etc/cni/net.d/10-berth.conflist"), "a") as f:
        f.write("\n")
    out = root.dpkg("-P", "berth")
    assert "keeping /etc/cni/net.d/10-berth.conflist, which was changed" in out
    assert os.path.exists(root.p("etc/cni/net.d/10-berth.conflist"))


# ---- an upgrade on a node with a running container, with the packaged binaries ----

def test_packaged_berthd_restart_keeps_running_container(berthd_factory, net, reg, tree):  # noqa: F811
    """What the unit does in an upgrade (prerm upgrade leaves berthd running, postinst
    restarts it, KillMode=process signals berthd alone): the packaged berthd is stopped
    with SIGTERM while a container runs, started again, and finds the container running
    in the same shim, which still serves exec."""
    root = os.path.join(tree, "root")
    binary = os.path.join(root, "usr/bin/berthd")
    d = berthd_factory({"libexec_dir": os.path.join(root, "usr/libexec/berth")}, netns=net,
                       start=False)
    argv = d.argv()
    d.argv = lambda: [binary if a.endswith("/cri/berthd") else a for a in argv]
    assert binary in d.argv()
    d.start()
    e = Env(d, reg)
    try:
        e.pull("busybox")
        pod = e.pod()
        cid = e.run(pod, "web", ["sh", "-c", "echo up; exec sleep 1000"])
        shims = procs_mentioning(cid)
        assert shims, "no shim for the container"
        rc, _ = d.stop()
        assert rc == 0
        assert all(os.path.exists(f"/proc/{p}") for p in shims)  # the shims stayed
        d.start()
        e.c = d.client()

        def state():
            # the new channel may first meet the old process's connection (UNAVAILABLE)
            try:
                return e.state(cid)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                return None
        assert poll(state, 10, "ContainerStatus after the restart") == \
            e.pb.CONTAINER_RUNNING
        assert procs_mentioning(cid) == shims
        r = e.exec(cid, ["sh", "-c", "echo still here"])
        assert (r.exit_code, r.stdout) == (0, b"still here\n")
        e.stop(cid)
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks


# ---- scripts/run.sh: the messages a user meets before anything is changed ----

def test_run_sh_usage_and_root_messages():
    run_sh = os.path.join(TOP, "scripts", "run.sh")
    out = run(["bash", run_sh, "--bogus"])
    assert out.returncode == 2
    assert "--uninstall" in out.stderr and "--stop" in out.stderr
    for args, want in (([], "run.sh: run as root"), (["--uninstall"], "--uninstall needs root")):
        out = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash",
                   run_sh, *args])
        assert out.returncode == 1 and want in out.stderr, out.stderr
    assert run(["bash", "-n", run_sh]).returncode == 0


def test_shell_scripts_pass_shellcheck():
    scripts = [os.path.join(TOP, p) for p in (
        "scripts/run.sh", "scripts/deps.sh", "scripts/package.sh", "packaging/postinst",
        "packaging/prerm", "packaging/postrm")]
    out = run(["shellcheck", "--severity=warning", *scripts])
    assert out.returncode == 0, out.stdout + out.stderr


def test_deps_installs_nothing_when_nothing_is_missing():
    out = run(["bash", os.path.join(TOP, "scripts", "deps.sh"), "--test"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("deps: all ") and "installed" in out.stdout
    assert "apt-get" not in out.stdout


def test_deps_explains_an_unreachable_mirror(tmp_path):
    """With runc missing and apt unable to reach its mirror (stand-ins for dpkg-query and
    apt-get first in PATH), deps.sh stops naming what is missing and what to do."""
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "dpkg-query").write_text(
        "#!/bin/sh\n"
        "for a; do p=$a; done\n"
        "[ \"$p\" = runc ] && exit 1\n"
        "printf 'install ok installed'\n")
    (stub / "apt-get").write_text(
        "#!/bin/sh\n"
        "echo \"E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"
        "  Temporary failure resolving 'deb.debian.org'\" >&2\n"
        "exit 100\n")
    for f in stub.iterdir():
        f.chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}")
    out = run(["bash", os.path.join(TOP, "scripts", "deps.sh")], env=env)
    assert out.returncode == 1
    assert "deps: installing 1 missing Debian package(s) with apt-get: runc" in out.stdout
    assert "deps: apt-get update failed" in out.stderr
    assert "still needs these Debian 12 packages:\n  runc\n" in out.stderr
    assert "can't be reached" in out.stderr and "apt install ./pkg.deb" in out.stderr


def test_run_sh_without_runc_stops_before_changing_anything():
    """runc hidden (a private mount namespace with /dev/null over each runc, checked before
    run.sh starts): run.sh stops after the dependency check, says what to do, and builds,
    installs and starts nothing."""
    runcs = [p for p in ("/usr/sbin/runc", "/usr/bin/runc") if os.path.exists(p)]
    hide = "; ".join(f"mount --bind /dev/null {p}" for p in runcs)
    script = (f"{hide}; if runc --version >/dev/null 2>&1; then echo 'runc still runs'; "
              f"exit 99; fi; exec bash {os.path.join(TOP, 'scripts', 'run.sh')}")
    manifest = os.path.join(TOP, "build-release", "install_manifest.txt")
    before = os.path.exists(manifest) and os.stat(manifest).st_mtime
    out = run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
              cwd="/")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "==> checking the Debian packages berth needs" in out.stdout
    assert "run.sh: runc is not in PATH or does not run" in out.stderr
    assert "apt install runc" in out.stderr
    assert "==> building" not in out.stdout
    assert (os.path.exists(manifest) and os.stat(manifest).st_mtime) == before


def test_dpkg_purge_keeps_state_something_is_mounted_in(root, deb):
    """A pod's mount left under /var/lib/berth (a pod that outlived berthd): purge keeps the
    state and says why, instead of deleting beneath a mount."""
    root.dpkg("-i", deb)
    mnt = root.p("var/lib/berth/image/left")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "berth-test", mnt], check=True)
    try:
        with open(os.path.join(mnt, "data"), "w") as f:
            f.write("x")
        out = root.dpkg("-P", "berth")
        assert "keeping /var/lib/berth and /run/berth" in out
        assert os.path.exists(os.path.join(mnt, "data"))
        assert root.status() is None
        assert not os.path.exists(root.p("etc/berth"))
    finally:
        subprocess.run(["umount", mnt], check=False)
