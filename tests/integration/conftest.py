# SPDX-License-Identifier: Apache-2.0
"""Fixtures for the berth integration tests.

berthd_factory(config=None, **opts) starts a berthd of the build in
$BERTH_BUILD (default ./build) inside a network namespace of its own, with its
own socket, state dir, run dir and an empty CNI conf dir, and returns a Berthd.
`config` is deep-merged into the JSON config file the fixture writes, so a later
test asks for e.g. berthd_factory({"registries": {...}}). Every berthd, netns
and temp dir is removed in the finalizer, even when the test fails; a berthd
still running then gets SIGTERM and must exit 0 with no sanitizer report.

Strict mode (conmon's): with CI set in the environment, a skip is a failure."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

import criapi

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")
START_TIMEOUT = 20  # seconds; sanitizer builds start slowly on a busy machine


def _strict():
    return bool(os.environ.get("CI"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if _strict() and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped, which fails the run in CI (strict mode): {rep.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    rep = outcome.get_result()
    if _strict() and rep.skipped:
        rep.outcome = "failed"
        rep.longrepr = f"skipped at collection, which fails the run in CI: {rep.longrepr}"


def build_dir():
    return os.path.abspath(os.environ.get("BERTH_BUILD", "build"))


def berthd_path():
    return os.path.join(build_dir(), "cri", "berthd")


# berthd's helpers as built: (name in libexec_dir, path under the build dir).
HELPERS = (("berth-shim", "shim/berth-shim"), ("berth-exec", "oci/berth-exec"),
           ("berth-pinns", "libexec/berth-pinns"), ("berth-pull", "libexec/berth-pull"))


def libexec_dir(root):
    """A libexec dir of symlinks to the helpers of the build, for "libexec_dir"."""
    d = os.path.join(root, "libexec")
    os.makedirs(d, exist_ok=True)
    for name, rel in HELPERS:
        os.symlink(os.path.join(build_dir(), rel), os.path.join(d, name))
    return d


def deep_merge(base, over):
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def poll(pred, timeout, what):
    """Polls pred() until true or timeout seconds pass (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def sanitizer_report(text):
    return next((m for m in SANITIZER_MARKS if m in text), None)


class Netns:
    def __init__(self):
        self.name = f"berth-test-{uuid.uuid4().hex[:10]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.path = f"/run/netns/{self.name}"
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.delete()
            raise

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


class Berthd:
    """One berthd: .socket, .state_dir, .run_dir, .cni_dir, .config (dict),
    .config_path, .proc, .pid, .netns, .stderr(); call(name, req) or client()
    for RPCs; stop()/kill()/start()/restart() control the process."""

    def __init__(self, pb, root, config, netns, state_dir=None, extra_args=(), env=None):
        self.pb = pb
        self.root = root
        self.netns = netns
        self.socket = os.path.join(root, "berth.sock")
        self.state_dir = state_dir or os.path.join(root, "state")
        self.run_dir = os.path.join(root, "run")
        self.cni_dir = os.path.join(root, "net.d")
        os.makedirs(self.cni_dir, exist_ok=True)
        self.libexec_dir = libexec_dir(root)
        self.config = deep_merge({"log_level": "debug", "workers": 4,
                                  "libexec_dir": self.libexec_dir,
                                  "cni": {"conf_dir": self.cni_dir}}, config or {})
        self.config_path = os.path.join(root, "berth.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f, indent=1)
        self.extra_args = list(extra_args)
        self.env = None if env is None else {**os.environ, **env}
        self.proc = None
        self.stderr_path = None
        self.runs = 0
        self.expect_clean_exit = True
        self._clients = []

    def argv(self):
        return ["nsenter", f"--net={self.netns.path}", berthd_path(),
                "--config", self.config_path, "--socket", self.socket,
                "--state-dir", self.state_dir, "--run-dir", self.run_dir] + self.extra_args

    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "berthd already running"
        self.runs += 1
        self.stderr_path = os.path.join(self.root, f"berthd.{self.runs}.log")
        with open(self.stderr_path, "wb") as err:
            # nsenter --net execs berthd in place: self.proc.pid is berthd's pid.
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, env=self.env)
        self.expect_clean_exit = True
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def _connectable(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"berthd exited with {self.proc.returncode}:\n{self.stderr()}")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def wait_ready(self):
        poll(self._connectable, START_TIMEOUT, f"berthd socket {self.socket}")

    def client(self, **kw):
        c = criapi.Client(self.pb, self.socket, **kw)
        self._clients.append(c)
        return c

    def call(self, name, req=None, timeout=10):
        """One unary call on a shared client: d.call("Status").status..."""
        if not self._clients:
            self.client()
        return self._clients[0].call(name, req, timeout=timeout)

    def restart(self):
        """SIGTERM (must exit 0), then start again on the same dirs and config."""
        rc, _ = self.stop()
        self.check_exit()
        assert rc == 0
        return self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM; returns (exit code, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        return rc, time.monotonic() - t0

    def kill(self):
        """SIGKILL, as a crash would; the finalizer then expects no clean exit."""
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.expect_clean_exit = False

    def check_exit(self):
        """Asserts the last run exited 0 (if it was meant to) without a sanitizer report."""
        if self.proc is None:
            return
        text = self.stderr()
        mark = sanitizer_report(text)
        assert mark is None, f"sanitizer report ({mark}) in berthd stderr:\n{text}"
        if self.expect_clean_exit:
            assert self.proc.returncode == 0, \
                f"berthd exited with {self.proc.returncode}:\n{text}"

    def close(self):
        for c in self._clients:
            c.close()
        self._clients = []
        if self.running():
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """The api_pb2 module generated from proto/api.proto for this session."""
    return criapi.generate(str(tmp_path_factory.mktemp("gen")))


@pytest.fixture(scope="session", autouse=True)
def _requirements():
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (network namespaces)")
    if not os.access(berthd_path(), os.X_OK):
        pytest.fail(f"no berthd at {berthd_path()}: build first or set BERTH_BUILD")


@pytest.fixture
def berthd_factory(pb):
    """Returns start(config=None, *, state_dir=None, netns=None, wait=True,
    start=True, extra_args=(), env=None) -> Berthd. config is deep-merged into
    the test defaults; env adds environment variables. With start=False the
    Berthd is only prepared; with wait=False the caller watches the process."""
    made = []
    netnses = []
    roots = []

    def start(config=None, *, state_dir=None, netns=None, wait=True, start=True,
              extra_args=(), env=None):
        # Short paths: a unix socket path must fit in 108 bytes.
        root = tempfile.mkdtemp(prefix="berth-", dir="/tmp")
        roots.append(root)
        if netns is None:
            netns = Netns()
            netnses.append(netns)
        d = Berthd(pb, root, config, netns, state_dir=state_dir, extra_args=extra_args,
                   env=env)
        made.append(d)
        if start:
            d.start(wait=wait)
        return d

    yield start

    errors = []
    for d in reversed(made):
        try:
            d.close()
            d.check_exit()
        except Exception as e:  # report them all, clean up regardless
            errors.append(e)
    for n in netnses:
        n.delete()
    for r in roots:
        shutil.rmtree(r, ignore_errors=True)
    if errors:
        raise errors[0]


@pytest.fixture
def berthd(berthd_factory):
    """A running berthd with the default test config."""
    return berthd_factory()
