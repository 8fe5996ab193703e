# SPDX-License-Identifier: Apache-2.0
"""A real container registry for tests: Debian's docker-registry on 127.0.0.1, and test images.

Registry(tmpdir, htpasswd=(user, password), netns=None).start() runs `docker-registry serve`
on a random free loopback port with its own storage dir (and basic auth from an htpasswd
file when asked); stop() ends it by PID. With netns="/run/netns/X" the registry and every
command talking to it (skopeo, the readiness probe) run inside that network namespace, so a
berthd in the same netns can reach it on its loopback.

build_images(dir) writes an OCI layout with the test images, built by hand from
busybox-static (tarfile + json, digests computed here):
  busybox:1    one gzip layer: /bin/busybox, /bin/sh -> busybox, /etc/passwd, /etc/motd, /opt/a
  multi:1      that layer + a gzip layer with etc/.wh.motd (whiteout), opt/.wh..wh..opq
               (opaque) and opt/b, + a zstd layer adding /added
  list:1       OCI index: linux/amd64 and linux/arm64 manifests (/arch says which)
  corrupt:1    one layer, corrupted in the registry's storage by corrupt_blob()
  concurrent:1 three layers of random data (1 MiB each) only this image has
  groups:1     busybox:1 + /etc/passwd and /etc/group putting user app (1000, its USER) in
               groups 2000 and 3000
Registry.push(layout, name, tag) copies one with skopeo (--all for indexes).

Fixtures: `test_images` (session: the layout and its digests), `registry` (module:
anonymous, images pushed), `auth_registry` (module: htpasswd auth, busybox:1 pushed) and
`token_registry` (module: bearer token auth through a TokenServer, busybox:1 pushed).
Everything started is stopped and every temp dir removed in finalizers.
"""
import base64
import datetime
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

BUSYBOX = "/bin/busybox"
START_TIMEOUT = 30
AUTH_USER, AUTH_PASS = "berth", "s3cret-pass"
ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nsenter(netns, argv):
    return (["nsenter", f"--net={netns}"] + argv) if netns else argv


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """A bearer token endpoint (Docker's token auth) on 127.0.0.1, signing ES256 JWTs with a
    self-signed certificate the registry trusts (rootcertbundle). GET /token with basic auth
    (user, password) grants the requested pull scope; POST /token with
    grant_type=refresh_token and the identity token grants it too; anything else gets a token
    with no access (the registry then refuses). Runs in a thread of the test process."""

    SERVICE, ISSUER = "berth-test-registry", "berth-test-issuer"

    def __init__(self, tmpdir, user, password, identity_token="berth-identity-token"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.user, self.password, self.identity_token = user, password, identity_token
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth-test-token")])
        now = datetime.datetime.utcnow()
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(tmpdir, "token-cert.pem")
        with open(self.cert_path, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self._der = self.cert.public_bytes(serialization.Encoding.DER)
        self.requests = 0
        self.httpd = None

    def mint(self, scope):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        access = []
        if scope:
            parts = scope.split(":")
            kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            access = [{"type": kind, "name": name, "actions": actions}]
        now = int(time.time())
        header = {"alg": "ES256", "typ": "JWT", "x5c": [base64.b64encode(self._der).decode()]}
        claims = {"iss": self.ISSUER, "sub": self.user, "aud": self.SERVICE, "exp": now + 3600,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s_ = decode_dss_signature(der)
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))

    def start(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests += 1
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                want = "Basic " + base64.b64encode(
                    f"{server.user}:{server.password}".encode()).decode()
                hdr = self.headers.get("Authorization")
                if hdr and hdr != want:
                    return self._reply(401, {"details": "incorrect username or password"})
                scope = q.get("scope", [""])[0] if hdr == want else ""
                tok = server.mint(scope)
                self._reply(200, {"token": tok, "access_token": tok, "expires_in": 3600})

            def do_POST(self):
                server.requests += 1
                n = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                if (form.get("grant_type") != ["refresh_token"] or
                        form.get("refresh_token") != [server.identity_token]):
                    return self._reply(401, {"error": "invalid_grant"})
                self._reply(200, {"access_token": server.mint(form.get("scope", [""])[0])})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    @property
    def realm(self):
        return f"http://127.0.0.1:{self.port}/token"

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


class Registry:
    def __init__(self, tmpdir, htpasswd=None, netns=None, token=None):
        self.token = token
        self.dir = tmpdir
        self.storage = os.path.join(tmpdir, "storage")
        self.log_path = os.path.join(tmpdir, "registry.log")
        self.htpasswd = htpasswd
        self.netns = netns
        self.proc = None
        self.port = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def _write_config(self):
        cfg = [
            "version: 0.1",
            "log:",
            "  level: info",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
        ]
        if self.htpasswd:
            path = os.path.join(self.dir, "htpasswd")
            user, password = self.htpasswd
            out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                 capture_output=True, text=True).stdout
            with open(path, "w") as f:
                f.write(out)
            cfg += ["auth:", "  htpasswd:", "    realm: berth-test", f"    path: {path}"]
        elif self.token:
            cfg += ["auth:", "  token:", f"    realm: {self.token.realm}",
                    f"    service: {self.token.SERVICE}", f"    issuer: {self.token.ISSUER}",
                    f"    rootcertbundle: {self.token.cert_path}"]
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            f.write("\n".join(cfg) + "\n")
        return path

    def _probe(self):
        """HTTP status of GET /v2/, or None while nothing answers."""
        if self.netns:
            code = ("import urllib.request,urllib.error,sys\n"
                    "try: print(urllib.request.urlopen(sys.argv[1], timeout=2).status)\n"
                    "except urllib.error.HTTPError as e: print(e.code)\n"
                    "except Exception: print(0)\n")
            out = subprocess.run(_nsenter(self.netns, ["/usr/bin/python3", "-c", code,
                                                       f"http://{self.host}/v2/"]),
                                 capture_output=True, text=True).stdout.strip()
            return int(out) if out.isdigit() and int(out) else None
        try:
            return urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return None

    def start(self):
        os.makedirs(self.storage, exist_ok=True)
        for _ in range(3):  # the free port may be taken before the registry binds it
            self.port = free_port()
            cfg = self._write_config()
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                _nsenter(self.netns, ["docker-registry", "serve", cfg]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
            log.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._probe() in (200, 401):
                    return self
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"docker-registry did not start; log:\n{self.log()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def push(self, layout, name, tag, all_platforms=False, dest_tag=None):
        argv = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
        if self.htpasswd:
            argv.append(f"--dest-creds={self.htpasswd[0]}:{self.htpasswd[1]}")
        elif self.token:
            argv.append(f"--dest-creds={self.token.user}:{self.token.password}")
        if all_platforms:
            argv.append("--all")
        argv += [f"oci:{layout}:{name}-{tag}",
                 f"docker://{self.host}/test/{name}:{dest_tag or tag}"]
        subprocess.run(_nsenter(self.netns, argv), check=True, capture_output=True)

    def blob_data_path(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexd[:2], hexd,
                            "data")

    def corrupt_blob(self, digest):
        """Flips bytes of a stored blob (same length), so it no longer matches its digest."""
        path = self.blob_data_path(digest)
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            for i in range(0, len(data), 97):
                data[i] ^= 0xFF
            f.seek(0)
            f.write(data)

    def count_blob_gets(self, repo, digest):
        needle = f'"GET /v2/{repo}/blobs/{digest} '
        return sum(1 for line in self.log().splitlines() if needle in line)


_PROXY = r"""
import socket, sys, threading, time
port, target, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
th, tp = target.rsplit(":", 1)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
print("ready", flush=True)

def pipe(src, dst, slow):
    try:
        while True:
            b = src.recv(16384)
            if not b:
                break
            dst.sendall(b)
            if slow:
                time.sleep(delay)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

while True:
    c, _ = ls.accept()
    u = socket.create_connection((th, int(tp)))
    threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, True), daemon=True).start()
"""


class SlowProxy:
    """A TCP proxy on 127.0.0.1 (inside netns when given) to target ("host:port") that
    sends the responses 16 KiB per `delay` seconds: a registry slow enough that a pull can
    be cancelled in the middle."""

    def __init__(self, target, delay=0.05, netns=None):
        self.target, self.delay, self.netns = target, delay, netns
        self.proc = None
        self.port = None

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        for _ in range(5):
            self.port = free_port()  # free here; in another netns almost surely free too
            self.proc = subprocess.Popen(
                _nsenter(self.netns, ["/usr/bin/python3", "-c", _PROXY, str(self.port),
                                      self.target, str(self.delay)]),
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                text=True)
            if self.proc.stdout.readline().strip() == "ready":
                return self
            self.stop()
        raise RuntimeError("slow proxy did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.proc = None


# ---- images ----

def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(entries):
    """entries: (name, kind, data_or_target, mode); kind in file/dir/symlink."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layout:
    """An OCI image layout being written."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.refs = []

    def blob(self, data):
        d = _sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return d

    def layer(self, entries, compression="gzip"):
        tar = _tar(entries)
        if compression == "gzip":
            data = gzip.compress(tar, mtime=0)
            mt = "application/vnd.oci.image.layer.v1.tar+gzip"
        elif compression == "zstd":
            data = subprocess.run(["zstd", "-q", "-c"], input=tar, check=True,
                                  capture_output=True).stdout
            mt = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            data, mt = tar, "application/vnd.oci.image.layer.v1.tar"
        return {"mediaType": mt, "digest": self.blob(data), "size": len(data),
                "diff_id": _sha(tar)}

    def image(self, layers, arch="amd64", config=None):
        cfg = {
            "architecture": arch, "os": "linux",
            "config": config or {},
            "rootfs": {"type": "layers", "diff_ids": [l["diff_id"] for l in layers]},
        }
        cfg_data = json.dumps(cfg).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": self.blob(cfg_data), "size": len(cfg_data)},
            "layers": [{k: l[k] for k in ("mediaType", "digest", "size")} for l in layers],
        }
        data = json.dumps(manifest).encode()
        return {"mediaType": manifest["mediaType"], "digest": self.blob(data),
                "size": len(data), "config": manifest["config"]["digest"],
                "layers": [l["digest"] for l in layers],
                "image_size": len(cfg_data) + sum(l["size"] for l in layers)}

    def index(self, entries):
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
               "manifests": [{"mediaType": m["mediaType"], "digest": m["digest"],
                              "size": m["size"],
                              "platform": {"architecture": arch, "os": "linux"}}
                             for arch, m in entries]}
        data = json.dumps(idx).encode()
        return {"mediaType": idx["mediaType"], "digest": self.blob(data), "size": len(data)}

    def tag(self, desc, name):
        self.refs.append({"mediaType": desc["mediaType"], "digest": desc["digest"],
                          "size": desc["size"],
                          "annotations": {"org.opencontainers.image.ref.name": name}})

    def finish(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.refs}, f)


BUSYBOX_CONFIG = {
    "User": "0:0", "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "BERTH_TEST=1"],
    "Cmd": ["sh"], "WorkingDir": "/opt", "StopSignal": "SIGUSR1",
    "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}},
    "Labels": {"org.berth.test": "busybox"},
}


def build_images(path):
    """Writes the layout; returns {name: descriptor dict} (digest, config, layers)."""
    with open(BUSYBOX, "rb") as f:
        bb = f.read()
    lay = Layout(path)
    base = lay.layer([
        ("bin", "dir", None, 0o755), ("bin/busybox", "file", bb, 0o755),
        ("bin/sh", "symlink", "busybox", 0o777), ("etc", "dir", None, 0o755),
        ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/motd", "file", b"hello\n", 0o644), ("opt", "dir", None, 0o755),
        ("opt/a", "file", b"a\n", 0o600),
    ])
    out = {}
    out["busybox"] = lay.image([base], config=BUSYBOX_CONFIG)
    lay.tag(out["busybox"], "busybox-1")
    upper = lay.layer([
        ("etc", "dir", None, 0o755), ("etc/.wh.motd", "file", b"", 0o644),
        ("opt", "dir", None, 0o755), ("opt/.wh..wh..opq", "file", b"", 0o644),
        ("opt/b", "file", b"b\n", 0o644),
    ])
    top = lay.layer([("added", "file", b"zstd layer\n", 0o644)], compression="zstd")
    out["multi"] = lay.image([base, upper, top], config=BUSYBOX_CONFIG)
    lay.tag(out["multi"], "multi-1")
    per_arch = []
    for arch in ("amd64", "arm64"):
        l = lay.layer([("arch", "file", arch.encode() + b"\n", 0o644)])
        per_arch.append((arch, lay.image([base, l], arch=arch, config=BUSYBOX_CONFIG)))
    out["list"] = lay.index(per_arch)
    out["list"]["platforms"] = dict(per_arch)
    lay.tag(out["list"], "list-1")
    odd = lay.layer([("corrupt-me", "file", os.urandom(4096), 0o644)])
    out["corrupt"] = lay.image([odd])
    lay.tag(out["corrupt"], "corrupt-1")
    # a user "app" (1000) the image's /etc/group puts in two more groups (2000, 3000)
    accounts = lay.layer([
        ("etc", "dir", None, 0o755),
        ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
         0o644),
        ("etc/group", "file", b"root:x:0:\napp:x:1000:\nextra:x:2000:app\nmore:x:3000:root,app\n",
         0o644),
    ])
    out["groups"] = lay.image([base, accounts], config={**BUSYBOX_CONFIG, "User": "app"})
    lay.tag(out["groups"], "groups-1")
    rand = [lay.layer([(f"r{i}", "file", os.urandom(1 << 20), 0o644)]) for i in range(3)]
    out["concurrent"] = lay.image(rand)
    lay.tag(out["concurrent"], "concurrent-1")
    lay.finish()
    return out


def push_all(reg, layout):
    for name in ("busybox", "multi", "corrupt", "concurrent", "groups"):
        reg.push(layout, name, "1")
    reg.push(layout, "list", "1", all_platforms=True)


def manifest_digest(reg, repo, ref):
    """Digest of the manifest the registry serves (computed from its bytes)."""
    req = urllib.request.Request(f"http://{reg.host}/v2/{repo}/manifests/{ref}",
                                 headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=10) as r:
        return _sha(r.read())


@pytest.fixture(scope="session")
def test_images():
    d = tempfile.mkdtemp(prefix="berth-images-")
    try:
        layout = os.path.join(d, "layout")
        yield layout, build_images(layout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def registry(test_images):
    layout, _ = test_images
    d = tempfile.mkdtemp(prefix="berth-registry-")
    reg = Registry(d)
    try:
        reg.start()
        push_all(reg, layout)
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def token_registry(test_images):
    """A registry with bearer token auth; .token is its TokenServer (AUTH_USER/AUTH_PASS)."""
    layout, _ = test_images
    d = tempfile.mkdtemp(prefix="berth-registry-token-")
    tok = TokenServer(d, AUTH_USER, AUTH_PASS)
    reg = Registry(d, token=tok)
    try:
        tok.start()
        reg.start()
        reg.push(layout, "busybox", "1")
        yield reg
    finally:
        reg.stop()
        tok.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def auth_registry(test_images):
    layout, _ = test_images
    d = tempfile.mkdtemp(prefix="berth-registry-auth-")
    reg = Registry(d, htpasswd=(AUTH_USER, AUTH_PASS))
    try:
        reg.start()
        reg.push(layout, "busybox", "1")
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(d, ignore_errors=True)
