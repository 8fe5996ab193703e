# SPDX-License-Identifier: Apache-2.0
"""berth-shim against real runc containers (busybox-static rootfs).

Each test gets its own temp dir, runc --root, and cgroup parent; the
fixture's finalizer deletes every container (runc delete -f), waits for (or
kills) every shim it started, removes the cgroups and the temp dir, even when
the test fails. Shims are started through berth-shimctl, i.e. through
shim_start() of the client library, so the starter is never the shim's parent.
"""
import json
import os
import re
import select
import socket
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

BUILD = os.environ.get("BERTH_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SHIM = os.path.join(BUILD, "shim", "berth-shim")
SHIMCTL = os.path.join(BUILD, "shim", "berth-shimctl")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
BUSYBOX = "/bin/busybox"
MAX_LINE = 16 * 1024
LINE_RE = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) (.*)$", re.S)
APPLETS = ["sh", "echo", "cat", "sleep", "printf", "head", "tr", "stty", "true", "yes", "dd",
           "read", "test", "seq"]


def wait_for(pred, timeout=10.0, what="condition"):
    """Polls pred until it returns a true value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "State:\tZ" not in f.read()
    except FileNotFoundError:
        return False


def proc_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


def parse_log(path):
    """Parses a CRI log file; asserts the format of every line."""
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), "log must end with a newline"
    recs = []
    last_ts = ""
    for line in data.split(b"\n")[:-1]:
        m = LINE_RE.match(line)
        assert m, f"bad CRI log line {line[:80]!r}"
        ts = m.group(1).decode()
        assert ts >= last_ts, "timestamps must not go backwards"
        last_ts = ts
        recs.append((m.group(2).decode(), m.group(3).decode(), m.group(4)))
    return recs


def full_lines(recs, stream=None):
    """Joins P chunks with their F record: the lines the container wrote, the last one
    without its newline when the output ended unterminated (as kubelet's reader joins
    them)."""
    out, cur, open_ = [], b"", False
    for s, tag, text in recs:
        if stream and s != stream:
            continue
        cur += text
        open_ = tag == "P"
        if tag == "F":
            out.append(cur)
            cur = b""
    if open_:
        out.append(cur)
    return out


class Env:
    def __init__(self, tmp, rootfs, spec):
        self.tmp = tmp
        self.rootfs = rootfs
        self.spec = spec
        self.runc_root = os.path.join(tmp, "runc")
        self.exit_dir = os.path.join(tmp, "exits")
        self.cgroup_parent = f"/berth-shimtest-{uuid.uuid4().hex[:12]}"
        self.containers = []
        self.shims = []

    def runc(self, *args, check=True):
        return subprocess.run([RUNC, f"--root={self.runc_root}", *args], check=check,
                              capture_output=True, text=True, timeout=60)

    def bundle(self, cid, args, terminal=False, memory=None, pidns=True):
        b = os.path.join(self.tmp, "bundles", cid)
        os.makedirs(b)
        c = json.loads(json.dumps(self.spec))
        c["root"] = {"path": self.rootfs, "readonly": True}
        c["process"]["args"] = args
        c["process"]["terminal"] = terminal
        c["linux"]["cgroupsPath"] = f"{self.cgroup_parent}/{cid}"
        if memory:
            c["linux"].setdefault("resources", {})["memory"] = {"limit": memory, "swap": memory}
        if not pidns:
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(c, f)
        return b

    def paths(self, cid):
        return (os.path.join(self.tmp, "logs", cid, "0.log"),
                os.path.join(self.tmp, "state", cid))

    def start(self, cid, args, terminal=False, stdin=False, memory=None, extra=(), check=True,
              pidns=True):
        """Creates the container through the shim; returns shimctl's fields."""
        b = self.bundle(cid, args, terminal=terminal, memory=memory, pidns=pidns)
        log, state = self.paths(cid)
        cmd = [SHIMCTL, "start", "--shim", SHIM, "--shim-log", os.path.join(self.tmp, "shim.log"),
               "--id", cid, "--bundle", b, "--runtime", RUNC,
               f"--runtime-arg=--root={self.runc_root}", "--log-path", log,
               "--exit-dir", self.exit_dir, "--state-dir", state, "--timeout-ms", "60000",
               *extra]
        if terminal:
            cmd.append("--terminal")
        if stdin:
            cmd.append("--stdin")
        self.containers.append(cid)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        if not check:
            return p
        assert p.returncode == 0, p.stderr
        info = dict(kv.split("=", 1) for kv in p.stdout.split())
        info = {"shim_pid": int(info["shim_pid"]), "pid": int(info["container_pid"]),
                "ctl": info["ctl"], "log": log, "state": state, "starter": p}
        self.shims.append(info["shim_pid"])
        return info

    def run(self, cid, args, **kw):
        info = self.start(cid, args, **kw)
        self.runc("start", cid)
        return info

    def ctl(self, ctl_path, *args, check=True):
        p = subprocess.run([SHIMCTL, *args[:1], ctl_path, *args[1:]], capture_output=True,
                           text=True, timeout=30)
        if check:
            assert p.returncode == 0, p.stderr
        return p

    def wait_exit(self, cid, timeout=30):
        path = os.path.join(self.exit_dir, cid)
        wait_for(lambda: os.path.exists(path), timeout, f"exit record of {cid}")
        return self.read_exit(path)

    def read_exit(self, path):
        p = subprocess.run([SHIMCTL, "read-exit", path], capture_output=True, text=True,
                           timeout=10, check=True)
        return {k: int(v) for k, v in (kv.split("=") for kv in p.stdout.split())}

    def cleanup(self):
        for cid in self.containers:
            self.runc("delete", "-f", cid, check=False)
        for pid in self.shims:
            try:
                wait_for(lambda: not pid_alive(pid), 10, f"shim {pid} to exit")
            except AssertionError:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if b"berth-shim" in f.read():
                            os.kill(pid, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    pass
        for ctrl in os.listdir("/sys/fs/cgroup"):
            top = os.path.join("/sys/fs/cgroup", ctrl, self.cgroup_parent.lstrip("/"))
            if not os.path.isdir(top) or os.path.islink(os.path.join("/sys/fs/cgroup", ctrl)):
                continue
            for d, _, _ in sorted(os.walk(top), key=lambda t: -len(t[0])):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


@pytest.fixture(scope="module")
def base():
    """A busybox rootfs and a `runc spec` template, shared by the module."""
    for exe in (SHIM, SHIMCTL, RUNC, BUSYBOX):
        assert os.access(exe, os.X_OK), f"{exe} missing (BERTH_BUILD={BUILD})"
    assert os.geteuid() == 0, "the shim tests need root (runc)"
    d = tempfile.mkdtemp(prefix="bshb", dir="/tmp")
    try:
        rootfs = os.path.join(d, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        for sub in ("proc", "dev", "sys", "tmp", "etc"):
            os.makedirs(os.path.join(rootfs, sub))
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for a in APPLETS:
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        subprocess.run([RUNC, "spec"], cwd=d, check=True)
        with open(os.path.join(d, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["env"] = ["PATH=/bin", "TERM=xterm"]
        yield rootfs, spec
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(base):
    tmp = tempfile.mkdtemp(prefix="bsh", dir="/tmp")  # short: socket paths
    e = Env(tmp, *base)
    try:
        yield e
        e.cleanup()
        # sanitizer reports (ASan build) and shim errors land in the shim log
        log = os.path.join(tmp, "shim.log")
        text = open(log).read() if os.path.exists(log) else ""
        assert "Sanitizer" not in text and "runtime error" not in text, text
    finally:
        try:
            e.cleanup()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def test_stdout_and_stderr_lines(env):
    before = time.time_ns()
    info = env.run("out", ["sh", "-c", "echo out1; echo err1 >&2; echo out2; echo; "
                                       "echo err2 >&2"])
    ex = env.wait_exit("out")
    assert ex["exit_code"] == 0 and ex["signal"] == 0 and ex["oom_killed"] == 0
    assert ex["pid"] == info["pid"]
    assert before <= ex["finished_ns"] <= time.time_ns()
    # the same record in the state dir, written first
    assert env.read_exit(os.path.join(info["state"], "exit")) == ex
    recs = parse_log(info["log"])
    assert full_lines(recs, "stdout") == [b"out1", b"out2", b""]
    assert full_lines(recs, "stderr") == [b"err1", b"err2"]
    assert all(tag == "F" for _, tag, _ in recs)
    wait_for(lambda: not pid_alive(info["shim_pid"]), 10, "shim exit")
    assert not os.path.exists(info["ctl"])


def test_long_line_split_into_partial_chunks(env):
    n = 40000
    info = env.run("long", ["sh", "-c", f"head -c {n} /dev/zero | tr '\\0' a; echo; echo after"],
                   extra=["--partial-ms", "600000"])
    assert env.wait_exit("long")["exit_code"] == 0
    recs = parse_log(info["log"])
    tags = [(t, len(x)) for _, t, x in recs]
    assert tags == [("P", MAX_LINE), ("P", MAX_LINE), ("F", n - 2 * MAX_LINE), ("F", 5)]
    assert full_lines(recs) == [b"a" * n, b"after"]


def test_custom_max_line(env):
    info = env.run("maxl", ["sh", "-c", "echo 0123456789"], extra=["--log-max-line", "4"])
    env.wait_exit("maxl")
    recs = parse_log(info["log"])
    assert [(t, x) for _, t, x in recs] == [("P", b"0123"), ("P", b"4567"), ("F", b"89")]


def test_output_without_trailing_newline_ends_as_partial(env):
    info = env.run("nonl", ["sh", "-c", "echo first; printf 'no newline'"])
    env.wait_exit("nonl")
    recs = parse_log(info["log"])
    assert recs == [("stdout", "F", b"first"), ("stdout", "P", b"no newline")]


def test_chunk_cut_by_reopen_is_partial(env):
    # cat echoes what stdin gets: "abcd" without a newline is in the shim's buffer (the
    # attach client has seen it, and the partial timer is far off) when the log is
    # reopened, so the old file ends with it as P and the line ends in the new file.
    info = env.run("rcut", ["cat"], stdin=True, extra=["--partial-ms", "600000"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(info["ctl"])
        s.send(b"attach stdin stdout")
        assert s.recv(100) == b"ok"
        s.send(b"\x00" + b"abcd")
        got = b""
        while got != b"abcd":
            pkt = s.recv(1 << 16)
            assert pkt and pkt[0] == 1, pkt
            got += pkt[1:]
        os.rename(info["log"], info["log"] + ".1")
        env.ctl(info["ctl"], "reopen-log")
        assert parse_log(info["log"] + ".1") == [("stdout", "P", b"abcd")]
        s.send(b"\x00" + b"efgh\n")
        wait_for(lambda: os.path.exists(info["log"]) and parse_log(info["log"]), 10, "new log")
    assert parse_log(info["log"]) == [("stdout", "F", b"efgh")]
    env.ctl(info["ctl"], "close-stdin")
    assert env.wait_exit("rcut")["exit_code"] == 0


def test_unfinished_line_flushed_as_partial_while_running(env):
    # The container prints a prompt without newline and waits on stdin: the
    # prompt shows up as a P record, the rest of the line later as F.
    info = env.run("prompt", ["sh", "-c", "printf 'name? '; read x; echo \"hi $x\""],
                   stdin=True, extra=["--partial-ms", "50"])
    wait_for(lambda: parse_log(info["log"]), 10, "prompt in log")
    assert parse_log(info["log"]) == [("stdout", "P", b"name? ")]
    env.ctl(info["ctl"], "ctl", "stdin bob\n")
    assert env.wait_exit("prompt")["exit_code"] == 0
    recs = parse_log(info["log"])
    assert recs == [("stdout", "P", b"name? "), ("stdout", "F", b"hi bob")]


def test_created_container_deleted_before_start(env):
    info = env.start("never", ["echo", "never printed"])
    assert env.ctl(info["ctl"], "ctl", "state").stdout.strip() == f"pid={info['pid']} status=running"
    env.runc("delete", "-f", "never")
    ex = env.wait_exit("never")
    assert ex["exit_code"] == 137 and ex["signal"] == 9 and ex["pid"] == info["pid"]
    assert parse_log(info["log"]) == []


def test_exit_recorded_while_a_leftover_process_holds_stdout(env):
    # Without a pid namespace the init's background child survives it and
    # keeps the stdout pipe open: the shim stops waiting after --drain-ms.
    info = env.run("drain", ["sh", "-c", "sleep 1000 & echo parent done"], pidns=False,
                   extra=["--drain-ms", "200"])
    ex = env.wait_exit("drain")
    assert ex["exit_code"] == 0 and ex["pid"] == info["pid"]
    assert parse_log(info["log"]) == [("stdout", "F", b"parent done")]
    wait_for(lambda: not pid_alive(info["shim_pid"]), 10, "shim exit")


def test_nonzero_exit_code(env):
    env.run("exit3", ["sh", "-c", "echo bye; exit 3"])
    ex = env.wait_exit("exit3")
    assert ex["exit_code"] == 3 and ex["signal"] == 0


def test_kill9_recorded_as_137_and_watcher_reports(env):
    info = env.run("k9", ["sleep", "1000"])
    watch = subprocess.Popen([SHIMCTL, "watch", env.exit_dir, "20000", "1"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert watch.stdout.readline() == "ready\n"
        assert pid_alive(info["pid"])
        env.runc("kill", "k9", "KILL")
        r, _, _ = select.select([watch.stdout], [], [], 20)
        assert r, "watcher reported nothing"
        assert watch.stdout.readline() == "k9\n"
        assert watch.wait(10) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    ex = env.read_exit(os.path.join(env.exit_dir, "k9"))
    assert ex["exit_code"] == 137 and ex["signal"] == 9 and ex["oom_killed"] == 0


def test_oom_kill_recorded(env):
    # 16 MiB limit; the shell variable grows until the kernel kills it.
    env.run("oom", ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo $x"],
            memory=16 * 1024 * 1024)
    ex = env.wait_exit("oom", timeout=60)
    assert ex["exit_code"] == 137 and ex["signal"] == 9
    assert ex["oom_killed"] == 1


def test_stdin_held_open_and_reopen_log(env):
    info = env.run("cat", ["cat"], stdin=True)
    env.ctl(info["ctl"], "ctl", "stdin one\n")
    wait_for(lambda: parse_log(info["log"]) == [("stdout", "F", b"one")], 10, "'one' logged")
    # cat is still running: the shim holds stdin open
    assert pid_alive(info["pid"])
    assert env.ctl(info["ctl"], "ctl", "state").stdout.strip() == f"pid={info['pid']} status=running"
    os.rename(info["log"], info["log"] + ".1")
    env.ctl(info["ctl"], "reopen-log")
    env.ctl(info["ctl"], "ctl", "stdin two\n")
    wait_for(lambda: os.path.exists(info["log"]) and parse_log(info["log"]), 10, "new log")
    assert parse_log(info["log"]) == [("stdout", "F", b"two")]
    assert parse_log(info["log"] + ".1") == [("stdout", "F", b"one")]
    env.ctl(info["ctl"], "close-stdin")
    ex = env.wait_exit("cat")
    assert ex["exit_code"] == 0


def test_without_stdin_cat_sees_eof(env):
    env.run("nostdin", ["cat"])
    assert env.wait_exit("nostdin")["exit_code"] == 0


def test_control_errors(env):
    info = env.run("ctlerr", ["sleep", "1000"])
    p = env.ctl(info["ctl"], "resize", "80", "24", check=False)
    assert p.returncode == 1 and "no terminal" in p.stderr and f"errno {25}" in p.stderr
    p = env.ctl(info["ctl"], "ctl", "bogus", check=False)
    assert p.returncode == 1 and "unknown command 'bogus'" in p.stderr
    p = env.ctl(info["ctl"], "ctl", "attach", check=False)
    assert p.returncode == 1 and "attach needs stdin, stdout or stderr" in p.stderr
    p = env.ctl(info["ctl"], "ctl", "attach stdin", check=False)
    assert p.returncode == 1 and "container has no open stdin" in p.stderr
    p = env.ctl(info["ctl"], "ctl", "attach stdout bogus", check=False)
    assert p.returncode == 1 and "unknown attach stream 'bogus'" in p.stderr
    assert env.ctl(info["ctl"], "ctl", "ping").stdout.strip() == ""
    assert oct(os.stat(info["ctl"]).st_mode & 0o777) == "0o600"
    env.runc("kill", "ctlerr", "KILL")
    env.wait_exit("ctlerr")


def test_shim_outlives_its_starter(env):
    info = env.start("orphan", ["sleep", "1000"])
    starter_pid = info["starter"].returncode is not None  # shimctl has exited
    assert starter_pid
    shim = info["shim_pid"]
    assert pid_alive(shim)
    ppid = int(proc_field(shim, "PPid"))
    assert ppid != os.getpid()
    # the shim is its own session leader and the container's (sub)reaper
    assert os.getsid(shim) == shim
    env.runc("start", "orphan")
    assert int(proc_field(info["pid"], "PPid")) == shim
    env.runc("kill", "orphan", "KILL")
    ex = env.wait_exit("orphan")
    assert ex["exit_code"] == 137 and ex["signal"] == 9


def test_terminal_output_and_resize(env):
    info = env.run("tty", ["sh", "-c", "test -t 1 && echo isatty; read x; stty size; "
                                       "echo err >&2"], terminal=True, stdin=True)
    wait_for(lambda: parse_log(info["log"]), 10, "tty output")
    env.ctl(info["ctl"], "resize", "100", "30")
    env.ctl(info["ctl"], "ctl", "stdin go\n")
    assert env.wait_exit("tty")["exit_code"] == 0
    recs = parse_log(info["log"])
    assert {s for s, _, _ in recs} == {"stdout"}
    lines = [x.rstrip(b"\r") for x in full_lines(recs)]
    assert b"isatty" in lines
    assert b"30 100" in lines
    assert b"err" in lines


def test_create_error_carries_runtime_message(env):
    p = env.start("bad", ["/bin/does-not-exist"], check=False)
    assert p.returncode == 1
    assert "does-not-exist" in p.stderr
    assert "runtime create failed" in p.stderr
    assert "errno 5" in p.stderr  # EIO
    assert not os.path.exists(os.path.join(env.exit_dir, "bad"))
    _, state = env.paths("bad")
    assert not os.path.exists(os.path.join(state, "ctl.sock"))


def test_long_state_dir_control_socket(env):
    # the control socket path exceeds sun_path (108): bind and connect go
    # through /proc/self/fd/<dirfd>/ctl.sock
    cid = "longstate"
    info = env.start(cid, ["cat"], stdin=True,
                     extra=["--state-dir", os.path.join(env.tmp, "s" * 60, "t" * 60, cid)])
    assert len(info["ctl"]) > 108
    env.runc("start", cid)
    env.ctl(info["ctl"], "ctl", "stdin via long path\n")
    wait_for(lambda: parse_log(info["log"]), 10, "echo")
    assert parse_log(info["log"]) == [("stdout", "F", b"via long path")]
    env.ctl(info["ctl"], "close-stdin")
    assert env.wait_exit(cid)["exit_code"] == 0


def test_option_errors_reported_to_starter(env):
    b = env.bundle("relpath", ["true"])
    log, state = env.paths("relpath")
    p = subprocess.run([SHIMCTL, "start", "--shim", SHIM, "--id", "relpath", "--bundle",
                        os.path.relpath(b), "--runtime", RUNC, "--log-path", log,
                        "--exit-dir", env.exit_dir, "--state-dir", state],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "paths must be absolute" in p.stderr and "errno 22" in p.stderr
    assert not os.path.exists(state)


def test_bad_runtime_path(env):
    b = env.bundle("norun", ["true"])
    log, state = env.paths("norun")
    p = subprocess.run([SHIMCTL, "start", "--shim", SHIM, "--id", "norun", "--bundle", b,
                        "--runtime", "/nonexistent/runc", "--log-path", log,
                        "--exit-dir", env.exit_dir, "--state-dir", state],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "execute runtime '/nonexistent/runc'" in p.stderr and "errno 2" in p.stderr


def test_shim_sigterm_forwards_to_container(env):
    # pid 1 of a pid namespace ignores signals it has no handler for: trap it
    info = env.run("term", ["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; "
                                        "sleep 1000 & wait $!"])
    wait_for(lambda: parse_log(info["log"]), 10, "ready")
    os.kill(info["shim_pid"], signal.SIGTERM)
    ex = env.wait_exit("term")
    assert ex["signal"] == 0 and ex["exit_code"] == 7
    assert full_lines(parse_log(info["log"])) == [b"ready", b"got-term"]


def attach(env, ctl, streams, data=b"", timeout=30):
    """Runs `berth-shimctl attach` (the client library's shim_attach)."""
    return subprocess.run([SHIMCTL, "attach", ctl, *streams], input=data, capture_output=True,
                          timeout=timeout)


def test_attach_streams_stdin_and_output(env):
    info = env.run("att", ["sh", "-c", "echo started; cat; echo done >&2"], stdin=True)
    wait_for(lambda: parse_log(info["log"]), 10, "started")
    p = attach(env, info["ctl"], ["stdin", "stdout", "stderr"], b"hello\nworld\n")
    # shimctl closes the container's stdin at its EOF and exits with the
    # container's exit code once the exit record arrives
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"hello\nworld\n"
    assert p.stderr == b"done\n"
    assert full_lines(parse_log(info["log"]), "stdout") == [b"started", b"hello", b"world"]
    assert env.wait_exit("att")["exit_code"] == 0


def test_attach_stdin_once_closes_stdin_on_detach(env):
    script = 'while read l; do echo "got $l"; done; echo eof'
    info = env.run("once", ["sh", "-c", script], stdin=True, extra=["--stdin-once"])
    p = attach(env, info["ctl"], ["stdin", "detach-on-eof"], b"a\n")
    assert p.returncode == 0, p.stderr
    assert env.wait_exit("once")["exit_code"] == 0
    assert full_lines(parse_log(info["log"])) == [b"got a", b"eof"]


def test_attach_detach_keeps_stdin_without_stdin_once(env):
    script = 'while read l; do echo "got $l"; done; echo eof'
    info = env.run("keep", ["sh", "-c", script], stdin=True)
    p = attach(env, info["ctl"], ["stdin", "detach-on-eof"], b"a\n")
    assert p.returncode == 0, p.stderr
    wait_for(lambda: parse_log(info["log"]), 10, "got a")
    assert env.ctl(info["ctl"], "ctl", "state").stdout.strip().endswith("status=running")
    # a second session, which closes stdin at its end
    p = attach(env, info["ctl"], ["stdin", "stdout"], b"b\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"got b\neof\n"
    assert full_lines(parse_log(info["log"])) == [b"got a", b"got b", b"eof"]


def recv_until_exit(sock, deadline=30):
    """Collects tagged packets of an attach stream until the exit record."""
    out, end = b"", time.monotonic() + deadline
    while time.monotonic() < end:
        r, _, _ = select.select([sock], [], [], 1)
        if not r:
            continue
        pkt = sock.recv(1 << 20)
        assert pkt, "stream closed before the exit record"
        if pkt[0] == 3:
            return out, dict(l.split("=") for l in pkt[1:].decode().split())
        assert pkt[0] == 1, f"unexpected tag {pkt[0]}"
        out += pkt[1:]
    raise AssertionError("no exit record")


def test_attach_raw_protocol_tty_resize(env):
    info = env.run("ttyatt", ["sh", "-c", 'read x; stty size; echo "got $x"'], terminal=True,
                   stdin=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(info["ctl"])
        s.send(b"attach stdin stdout")
        assert s.recv(100) == b"ok"
        s.send(b"\x05" + b"120 40")
        s.send(b"\x00" + b"go\n")
        out, ex = recv_until_exit(s)
    assert ex["exit_code"] == "0" and ex["pid"] == str(info["pid"])
    lines = [l.rstrip(b"\r") for l in out.split(b"\n")]
    assert b"40 120" in lines and b"got go" in lines
    # the log saw the same output
    logged = [x.rstrip(b"\r") for x in full_lines(parse_log(info["log"]))]
    assert b"40 120" in logged and b"got go" in logged


def test_attach_stdin_backpressure_then_exit(env):
    # The container never reads stdin: the shim keeps what the pipe can't
    # take, stops reading this client, and still ends cleanly on exit.
    info = env.run("full", ["sleep", "1000"], stdin=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(info["ctl"])
        s.send(b"attach stdin stdout")
        assert s.recv(100) == b"ok"
        s.setblocking(False)
        sent = 0
        try:
            while sent < 64 << 20:
                sent += s.send(b"\x00" + b"x" * 65000) - 1
        except BlockingIOError:
            pass
        assert 64 * 1024 <= sent < 64 << 20  # more than the pipe, then blocked
        # the control socket still answers while this client is blocked
        assert env.ctl(info["ctl"], "ctl", "ping").returncode == 0
        env.runc("kill", "full", "KILL")
        s.setblocking(True)
        _, ex = recv_until_exit(s)
    assert ex["exit_code"] == "137"
