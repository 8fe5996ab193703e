# SPDX-License-Identifier: Apache-2.0
"""berthd's configuration as an operator meets it (issue 15): the file and its drop-ins
(`--print-config`), the socket's group and mode when systemd hears READY, and SIGHUP
changing the log level and a registry mirror while a pull is running."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading

import pytest

from conftest import Netns, berthd_path, poll
from registry import Registry, SlowProxy, test_images  # noqa: F401


def print_config(*args):
    return subprocess.run([berthd_path(), "--print-config", *args], capture_output=True,
                          text=True, timeout=30)


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


@pytest.fixture
def confdir():
    d = tempfile.mkdtemp(prefix="berth-conf-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_print_config_defaults_round_trip(confdir):
    """With no file every key is printed with its default, and the output read back as a
    config prints the same."""
    missing = os.path.join(confdir, "none", "berth.json")
    os.makedirs(os.path.join(confdir, "none.d"))
    out = print_config("--config-dir", os.path.join(confdir, "none.d"))
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert list(cfg) == ["socket", "socket_group", "socket_mode", "state_dir", "run_dir",
                         "log_level", "workers", "cgroup_driver", "default_runtime",
                         "runtimes", "cni", "registries", "stream", "libexec_dir",
                         "seccomp_profile"]
    assert cfg["socket"] == "/run/berth/berth.sock"
    assert (cfg["socket_group"], cfg["socket_mode"]) == ("root", "0660")
    assert cfg["cni"] == {"conf_dir": "/etc/cni/net.d",
                          "bin_dirs": ["/opt/cni/bin", "/usr/lib/cni"], "conf_template": None}
    assert cfg["runtimes"]["runc"]["root"] == "/run/berth/runtimes/runc"
    write(missing, out.stdout)
    again = print_config("--config", missing)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out.stdout


def test_named_config_and_dropin_dir_must_exist(confdir):
    """The default file and drop-in dir may be missing; ones named on the command line
    must be there."""
    gone = os.path.join(confdir, "gone")
    out = print_config("--config-dir", gone)
    assert out.returncode == 1
    assert f"config drop-in dir '{gone}' (--config-dir): No such file or directory" in \
        out.stderr, out.stderr
    out = print_config("--config", os.path.join(gone, "berth.json"))
    assert out.returncode == 1 and f"'{gone}/berth.json'" in out.stderr, out.stderr


def test_print_config_dropins_merge_in_name_order(confdir):
    main = os.path.join(confdir, "berth.json")
    dropins = os.path.join(confdir, "berth.d")
    write(main, '/* the main file */ {"workers": 2, "log_level": "warn",\n'
          ' "registries": {"docker.io": {"mirrors": ["http://a.test", "http://b.test"]}}}')
    write(os.path.join(dropins, "20-mirror.json"),
          {"registries": {"docker.io": {"mirrors": ["http://c.test"]},
                          "quay.io": {"insecure": True}}, "log_level": "error"})
    write(os.path.join(dropins, "10-workers.json"), {"workers": 6, "log_level": "debug"})
    write(os.path.join(dropins, "30-socket.json"), {"socket_mode": "0600"})
    write(os.path.join(dropins, "40-skipped.json.dpkg-dist"), {"workers": 1})
    write(os.path.join(dropins, ".50-hidden.json"), {"workers": 1})
    out = print_config("--config", main)
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["workers"] == 6
    assert cfg["log_level"] == "error"  # 20- after 10-
    assert cfg["registries"] == {
        "docker.io": {"mirrors": ["http://c.test"], "insecure": False},
        "quay.io": {"mirrors": [], "insecure": True}}
    assert cfg["socket_mode"] == "0600"
    assert out.stderr.strip() == (f"berthd: config from {main},{dropins}/10-workers.json,"
                                  f"{dropins}/20-mirror.json,{dropins}/30-socket.json")
    # --config-dir names another drop-in dir; flags still win over every file
    other = os.path.join(confdir, "other.d")
    write(os.path.join(other, "x.json"), {"workers": 9})
    out = print_config("--config", main, "--config-dir", other, "--log-level", "info")
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert (cfg["workers"], cfg["log_level"]) == (9, "info")
    assert cfg["registries"]["docker.io"]["mirrors"] == ["http://a.test", "http://b.test"]


@pytest.mark.parametrize("name,text,what", [
    ("25-typo.json", {"registries": {"docker.io": {"mirror": ["http://x"]}}},
     "unknown key 'registries.docker.io.mirror'"),
    ("25-type.json", {"stream": {"port": "10010"}}, "'stream.port' must be an integer"),
    ("25-mode.json", {"socket_mode": "0777x"}, "bad socket_mode '0777x'"),
    ("25-json.json", '{"workers": 3,,}', "invalid JSON"),
])
def test_print_config_bad_dropin_names_file_and_key(confdir, name, text, what):
    main = os.path.join(confdir, "berth.json")
    write(main, {"workers": 2})
    write(os.path.join(confdir, "berth.d", "10-ok.json"), {"workers": 3})
    write(os.path.join(confdir, "berth.d", name), text)
    out = print_config("--config", main)
    assert out.returncode == 1
    assert out.stdout == ""
    path = os.path.join(confdir, "berth.d", name)
    assert f"config '{path}': {what}" in out.stderr, out.stderr
    assert "Sanitizer" not in out.stderr


# ---- the socket ----

SOCKET_GID = 4242  # numeric: no entry in /etc/group is needed (or made)
NOBODY = 65534


def connect_as(path, gid):
    """Connects to the unix socket at path as uid 65534 with only gid; returns errno or 0."""
    code = ("import socket,sys\n"
            "s=socket.socket(socket.AF_UNIX)\n"
            "try:\n s.connect(sys.argv[1]); print(0)\n"
            "except OSError as e: print(e.errno)\n")
    out = subprocess.run(["/usr/bin/python3", "-c", code, path], user=NOBODY, group=gid,
                         extra_groups=[], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket whose path goes in NOTIFY_SOCKET."""

    def __init__(self, d):
        self.path = os.path.join(d, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(60)

    def wait(self, state):
        while True:
            msg = self.sock.recv(4096).decode()
            if state in msg.split("\n"):
                return msg

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("group,mode", [(None, None), (str(SOCKET_GID), "0660"),
                                        (str(SOCKET_GID), "0600")])
def test_socket_group_and_mode_before_ready(berthd_factory, group, mode):
    cfg = {}
    if group:
        cfg["socket_group"] = group
    if mode:
        cfg["socket_mode"] = mode
    d = berthd_factory(cfg, start=False)
    os.chmod(d.root, 0o711)  # nobody may reach the socket's dir, as /run/berth
    n = NotifySocket(d.root)
    try:
        d.env = {**os.environ, "NOTIFY_SOCKET": n.path}
        d.start(wait=False)
        n.wait("READY=1")
        # at READY the socket is there with its final owner and mode
        st = os.lstat(d.socket)
    finally:
        n.close()
    assert stat.S_ISSOCK(st.st_mode)
    want_gid = int(group) if group else 0
    want_mode = int(mode, 8) if mode else 0o660
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, want_gid, want_mode)
    d.wait_ready()
    assert d.call("Version").runtime_name == "berth"
    # the group is what lets a client in: write permission on the socket
    assert connect_as(d.socket, SOCKET_GID) == (0 if group and mode == "0660" else 13)
    assert connect_as(d.socket, SOCKET_GID + 1) == 13  # EACCES


def test_socket_group_unknown_fails_at_start(berthd_factory):
    d = berthd_factory({"socket_group": "no-such-group-berth"}, wait=False)
    d.proc.wait(timeout=30)
    assert d.proc.returncode == 1
    assert "socket_group 'no-such-group-berth': no such group" in d.stderr()
    assert not os.path.exists(d.socket)
    d.expect_clean_exit = False


# ---- SIGHUP ----

@pytest.fixture(scope="module")
def net():
    n = Netns()
    yield n
    n.delete()


@pytest.fixture(scope="module")
def two_registries(net, test_images):  # noqa: F811
    """Registries a and b in `net`, each with busybox:1 and multi:1."""
    layout, _ = test_images
    made = []
    try:
        for _ in range(2):
            d = tempfile.mkdtemp(prefix="berth-registry-")
            r = Registry(d, netns=net.path)
            made.append((r, d))
            r.start()
            r.push(layout, "busybox", "1")
            r.push(layout, "multi", "1")
        yield made[0][0], made[1][0]
    finally:
        for r, d in made:
            r.stop()
            shutil.rmtree(d, ignore_errors=True)


def pull(d, ref, timeout=120):
    pb = d.pb
    return d.call("PullImage", pb.PullImageRequest(image=pb.ImageSpec(image=ref)),
                  timeout=timeout).image_ref


def pull_running(d):
    for task in os.listdir(f"/proc/{d.pid}/task"):
        with open(f"/proc/{d.pid}/task/{task}/children") as f:
            for k in f.read().split():
                try:
                    with open(f"/proc/{k}/comm") as c:
                        if c.read().strip() == "berth-pull":
                            return True
                except FileNotFoundError:
                    pass
    return False


def manifest_gets(reg, repo):
    return reg.log().count(f'"GET /v2/{repo}/manifests/')


def test_sighup_log_level_and_mirror_live_during_pull(berthd_factory, net, two_registries,
                                                      test_images):  # noqa: F811
    a, b = two_registries
    imgs = test_images[1]
    slow = SlowProxy(a.host, delay=0.1, netns=net.path).start()  # busybox: about 6 s
    try:
        d = berthd_factory({"log_level": "debug",
                            "registries": {"docker.io": {"mirrors": [f"http://{slow.host}"]}}},
                           netns=net)
        d.call("Version")
        # per-call lines are at debug (logged once the answer went out)
        poll(lambda: "method=Version" in d.stderr(), 10, "the debug line of Version")
        done, errs = [], []

        def first():
            try:
                done.append(pull(d, "test/busybox:1"))
            except Exception as e:  # reported below
                errs.append(e)
        t = threading.Thread(target=first)
        t.start()
        try:
            poll(lambda: pull_running(d) or done or errs, 30, "the first pull to start")
            assert not done and not errs, "the first pull ended before the reload"
            cfg = dict(d.config, log_level="info", workers=3,
                       registries={"docker.io": {"mirrors": [f"http://{b.host}"]}})
            write(d.config_path, cfg)
            os.kill(d.pid, signal.SIGHUP)
            poll(lambda: 'msg="config reloaded"' in d.stderr(), 30, "the reload")
            assert pull_running(d) and not done, "the pull was not running across the reload"
        finally:
            t.join(120)
        assert errs == [] and done == [imgs["busybox"]["config"]]
    finally:
        slow.stop()
    log = d.stderr()
    assert 'key=log_level old="debug" new="info" msg="reload: changed, applied"' in log
    assert 'key=registries.docker.io.mirrors msg="reload: changed, applied"' in log
    reload_lines = [line for line in log.splitlines() if "reload:" in line]
    assert not any(slow.host in line or b.host in line for line in reload_lines)
    assert 'key=workers old=4 new=3 msg="reload: changed, takes effect at the next restart' \
        in log
    assert "applied=2 need_restart=1 failed=0" in log
    # the running pull kept the mirror it started with: busybox came from a
    assert manifest_gets(a, "test/busybox") >= 1 and manifest_gets(b, "test/busybox") == 0
    # a pull started now goes to the new mirror
    mark = len(d.stderr())
    assert pull(d, "test/multi:1") == imgs["multi"]["config"]
    assert manifest_gets(b, "test/multi") >= 1 and manifest_gets(a, "test/multi") == 0
    d.call("Version")
    # a failed call is logged at warn once answered: after it the lines of the calls
    # before it are out too, and none may be at debug any more
    with pytest.raises(Exception):
        d.call("ImageStatus", d.pb.ImageStatusRequest(image=d.pb.ImageSpec(image="")))
    poll(lambda: "method=ImageStatus" in d.stderr()[mark:], 10, "the warn line")
    after = d.stderr()[mark:]
    assert " debug " not in after, after  # not berthd's calls, not the new berth-pull's
    # Status verbose shows the config in effect: the new level and mirror, the old workers
    st = d.call("Status", d.pb.StatusRequest(verbose=True))
    live = json.loads(st.info["config"])
    assert live["log_level"] == "info" and live["workers"] == 4
    assert live["registries"]["docker.io"]["mirrors"] == [f"http://{b.host}"]


def test_sighup_bad_config_keeps_running_one(berthd_factory, confdir):
    d = berthd_factory({"log_level": "info"})
    write(os.path.join(os.path.dirname(d.config_path), "berth.d", "50-bad.json"),
          {"log_level": "loud"})
    os.kill(d.pid, signal.SIGHUP)
    want = f"config '{d.root}/berth.d/50-bad.json': bad log_level 'loud'"
    poll(lambda: want in d.stderr(), 30, "the reload to fail")
    assert "the running config stays" in d.stderr()
    assert d.call("Version").runtime_name == "berth"
    st = d.call("Status", d.pb.StatusRequest(verbose=True))
    assert json.loads(st.info["config"])["log_level"] == "info"


# ---- the shipped config and its reference ----

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def dotted_keys(obj, prefix=""):
    """The keys of a printed config, maps of names (runtimes, registries) as '<name>'."""
    out = []
    for k, v in obj.items():
        p = prefix + k
        out.append(p)
        if k in ("runtimes", "registries") and isinstance(v, dict):
            for sub in v.values():
                out += dotted_keys(sub, p + ".<name>.")
        elif isinstance(v, dict):
            out += dotted_keys(v, p + ".")
    return out


def test_shipped_berth_json_is_every_default(confdir):
    """scripts/berth.json (the installed /etc/berth/berth.json) sets every key berthd has,
    each to its default: berthd prints the same config with it as with no file."""
    none = os.path.join(confdir, "none.d")
    os.makedirs(none)
    shipped = print_config("--config", os.path.join(TOP, "scripts", "berth.json"),
                           "--config-dir", none)
    defaults = print_config("--config-dir", none, "--config-dir", none)
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout == defaults.stdout
    with open(os.path.join(TOP, "scripts", "berth.json")) as f:
        text = f.read()
    printed = json.loads(shipped.stdout)
    for key in dotted_keys(printed):
        leaf = key.rsplit(".", 1)[-1]
        if leaf != "<name>":
            assert f'"{leaf}":' in text, f"scripts/berth.json does not show '{key}'"


def test_config_reference_lists_every_key(confdir):
    """docs/config.md has a row for every key berthd prints, with type, default and
    whether it reloads."""
    out = print_config("--config-dir", confdir)
    printed = json.loads(out.stdout)
    printed["runtimes"] = {"<name>": printed["runtimes"]["runc"]}
    printed["registries"] = {"<name>": {"mirrors": [], "insecure": False}}
    with open(os.path.join(TOP, "docs", "config.md")) as f:
        rows = [line for line in f if line.startswith("| `")]
    documented = {line.split("`")[1].replace("<host>", "<name>"): line for line in rows}
    for key in dotted_keys(printed):
        key = key.replace(".<name>.<name>.", ".<name>.")
        if key.endswith(".<name>") or key in ("cni", "stream"):  # sections: their keys
            continue
        assert key in documented, f"docs/config.md has no row for '{key}'"
        cells = [c.strip() for c in documented[key].split("|")[1:-1]]
        assert len(cells) == 5 and all(cells[1:4]), f"row of '{key}' incomplete: {cells}"
        assert cells[3].strip("*") in ("yes", "no"), f"'{key}': reloads? {cells[3]}"
