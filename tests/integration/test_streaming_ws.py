# SPDX-License-Identifier: Apache-2.0
"""Exec, Attach and PortForward over WebSocket (RFC 6455) on the streaming server's
port and URLs, with Debian's python3-websockets as the client and the channel framing
of kubelet's wsstream: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; 255 (v5) closes
a channel. The SPDY side of the same URLs is test_streaming.py.

Every test ends with the leak check of the container tests (ctrutil.Env.cleanup)."""

import asyncio
import json
import os
import signal
import ssl
import struct
import subprocess
import sys
import time
import urllib.parse

import pytest
import websockets

import wsclient as W
from conftest import poll
from ctrutil import Env, env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401
from spdy import Client, connect_in_netns, shrink_tcp_buffers

SLEEP = ["sh", "-c", "exec sleep 1000"]


def exec_url(e, cid, cmd, **kw):
    return e.call("Exec", e.pb.ExecRequest(container_id=cid, cmd=cmd, **kw)).url


def run(coro):
    return asyncio.run(coro)


async def ws_exec(e, url, protocols, stdin=None, close_stdin=False, resize=None):
    ws = await W.connect(e.d.netns.path, url, protocols)
    proto = ws.subprotocol
    if resize:
        await W.send(ws, W.RESIZE, json.dumps({"Width": resize[0],
                                               "Height": resize[1]}).encode())
    if stdin:
        await W.send(ws, W.STDIN, stdin)
    if close_stdin:
        await W.close_channel(ws, W.STDIN)
    chans, code = await W.collect(ws)
    await ws.close()
    return proto, chans, code


def test_exec_stdout_stderr_exit_code(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "echo out; echo oops >&2; exit 3"], stdout=True,
                   stderr=True)
    proto, chans, code = run(ws_exec(e, url, ["v5.channel.k8s.io"]))
    assert proto == "v5.channel.k8s.io" and code == 1000
    assert chans[W.STDOUT] == b"out\n" and chans[W.STDERR] == b"oops\n"
    st = json.loads(chans[W.ERROR])
    assert st["status"] == "Failure" and st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


@pytest.mark.parametrize("proto", W.ALL)
def test_exec_every_subprotocol(env, proto):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    data = b"".join(b"line %d\n" % i for i in range(3000))
    url = exec_url(e, cid, ["sh", "-c", "head -c %d; echo; exit 0" % len(data)], stdin=True,
                   stdout=True)
    got, chans, code = run(ws_exec(e, url, [proto], stdin=data))
    assert got == proto and code == 1000
    assert chans[W.STDOUT] == data + b"\n"
    if proto.startswith(("v4.", "v5.")):
        assert json.loads(chans[W.ERROR]) == {"metadata": {}, "status": "Success"}
    else:  # the v1 status: nothing for success
        assert chans.get(W.ERROR, b"") == b""
    # a failure's text on the v1 error channel
    url = exec_url(e, cid, ["sh", "-c", "exit 4"], stdout=True)
    _, chans, _ = run(ws_exec(e, url, [proto]))
    if proto.startswith(("v4.", "v5.")):
        assert json.loads(chans[W.ERROR])["details"]["causes"][0]["message"] == "4"
    else:
        assert chans[W.ERROR] == b"command terminated with non-zero exit code: exit status 4"


def test_subprotocol_client_order(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "echo x"], stdout=True)
    got, chans, _ = run(ws_exec(e, url, ["v9.channel.k8s.io", "v4.base64.channel.k8s.io",
                                         "v5.channel.k8s.io"]))
    assert got == "v4.base64.channel.k8s.io" and chans[W.STDOUT] == b"x\n"


def test_v5_close_ends_stdin(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    data = bytes(range(256)) * 400
    url = exec_url(e, cid, ["sh", "-c", "exec cat"], stdin=True, stdout=True)
    _, chans, code = run(ws_exec(e, url, ["v5.channel.k8s.io"], stdin=data, close_stdin=True))
    assert chans[W.STDOUT] == data and code == 1000
    assert json.loads(chans[W.ERROR])["status"] == "Success"


def test_exec_tty_stdin_resize(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "read x; stty size; echo got:$x"], stdin=True,
                   stdout=True, tty=True)
    _, chans, _ = run(ws_exec(e, url, ["v5.channel.k8s.io"], stdin=b"abc\n",
                              resize=(100, 30)))
    assert json.loads(chans[W.ERROR])["status"] == "Success"
    text = chans[W.STDOUT].replace(b"\r\n", b"\n")
    assert b"got:abc\n" in text and b"30 100\n" in text
    assert W.STDERR not in chans  # a tty has one output channel


def test_attach_stdin_once(env):
    """A container with stdin_once: the attach's CLOSE of stdin closes the container's
    stdin, cat ends, the container exits and the attach ends with Success."""
    e = env
    pod = e.pod()
    cid = e.create(pod, e.ctr_config("a", command=["sh", "-c", "exec cat"], stdin=True, stdin_once=True))
    e.start(cid)
    url = e.call("Attach", e.pb.AttachRequest(container_id=cid, stdin=True, stdout=True)).url

    async def go():
        ws = await W.connect(e.d.netns.path, url, ["v5.channel.k8s.io"])
        await W.send(ws, W.STDIN, b"ping-attach\n")
        chans, _ = await W.collect(ws, until=lambda c: c.get(W.STDOUT) == b"ping-attach\n")
        await W.close_channel(ws, W.STDIN)
        rest, code = await W.collect(ws)
        await ws.close()
        return chans, rest, code
    chans, rest, code = run(go())
    assert chans[W.STDOUT] == b"ping-attach\n"
    assert json.loads(rest[W.ERROR])["status"] == "Success" and code == 1000
    e.wait_exited(cid)
    assert e.status(cid).status.exit_code == 0


def refused(e, url, protocols):
    with pytest.raises(W.InvalidStatusCode) as ei:
        run(W.connect(e.d.netns.path, url, protocols))
    return ei.value


def test_refusals(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    err = refused(e, exec_url(e, cid, ["sh", "-c", "true"], stdout=True), ["v9.channel.k8s.io"])
    assert err.status_code == 403
    accepted = err.headers["X-Accepted-Stream-Protocol-Versions"]
    assert accepted.split(", ") == W.ALL
    err = refused(e, exec_url(e, cid, ["sh", "-c", "true"], stdout=True), None)
    assert err.status_code == 403
    # a token is used by its first connection, whatever happens next
    url = exec_url(e, cid, ["sh", "-c", "echo once"], stdout=True)
    _, chans, _ = run(ws_exec(e, url, ["v5.channel.k8s.io"]))
    assert chans[W.STDOUT] == b"once\n"
    assert refused(e, url, ["v5.channel.k8s.io"]).status_code == 404
    # an exec token is not an attach token
    url = exec_url(e, cid, ["sh", "-c", "true"], stdout=True).replace("/exec/", "/attach/")
    assert refused(e, url, ["v5.channel.k8s.io"]).status_code == 404


@pytest.fixture
def short_env(berthd_factory, net, reg):
    """An Env whose berthd's stream URLs are good for 1 s (stream.token_ttl_ms)."""
    e = Env(berthd_factory({"stream": {"token_ttl_ms": 1000}}, netns=net), reg)
    e.pull("busybox")
    try:
        yield e
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks


def test_expired_token_refused(short_env):
    e = short_env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "echo late"], stdout=True)
    # past the TTL for sure: 1 s on berthd's monotonic clock, waited 3 times over
    time.sleep(3)
    assert refused(e, url, ["v5.channel.k8s.io"]).status_code == 404
    # a fresh one within its TTL still works
    url = exec_url(e, cid, ["sh", "-c", "echo early"], stdout=True)
    _, chans, _ = run(ws_exec(e, url, ["v5.channel.k8s.io"]))
    assert chans[W.STDOUT] == b"early\n"


def pf_url(e, pod, ports):
    url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url
    return url + "?" + "&".join(f"port={p}" for p in ports)


async def forward(e, url, payloads, proto="v4.channel.k8s.io"):
    """Sends payloads[i] to port i in 32 KiB messages, reads as many bytes back from
    each data channel; returns (channels, the error channels' text)."""
    ws = await W.connect(e.d.netns.path, url, [proto])
    want = {2 * i: len(p) + 2 for i, p in enumerate(payloads)}

    def done(c):
        return all(len(c.get(ch, b"")) >= n for ch, n in want.items()) or \
            any(len(c.get(ch + 1, b"")) > 2 for ch in want)
    sender = asyncio.ensure_future(asyncio.gather(*[
        W.send_all(ws, 2 * i, p) for i, p in enumerate(payloads)]))
    chans, _ = await W.collect(ws, timeout=60, until=done)
    await ws.close()
    sender.cancel()
    return chans


def echo_pod(e, ports):
    pod = e.pod()
    script = " & ".join(f"nc -ll -p {p} -e cat" for p in ports) + " & wait"
    e.run(pod, "echo", ["sh", "-c", script])
    return pod


def wait_listening(e, pod, port):
    deadline = time.monotonic() + 20
    while True:
        chans = run(forward(e, pf_url(e, pod, [port]), [b"x"]))
        if chans.get(1, b"")[2:] == b"":
            return
        assert b"error forwarding port" in chans[1] and time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.parametrize("proto", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"])
def test_port_forward_two_ports_1mib(env, proto):
    e = env
    pod = echo_pod(e, [9000, 9001])
    wait_listening(e, pod, 9000)
    wait_listening(e, pod, 9001)
    a = os.urandom(1 << 20)
    b = os.urandom(1 << 20)
    chans = run(forward(e, pf_url(e, pod, [9000, 9001]), [a, b], proto))
    # each channel opens with its port, little-endian
    assert chans[0][:2] == (9000).to_bytes(2, "little") == chans[1][:2]
    assert chans[2][:2] == (9001).to_bytes(2, "little") == chans[3][:2]
    assert chans[0][2:] == a and chans[2][2:] == b
    assert chans[1] == chans[1][:2] and chans[3] == chans[3][:2]  # no errors


def test_port_forward_closed_port_and_bad_ports(env):
    e = env
    pod = echo_pod(e, [9000])
    wait_listening(e, pod, 9000)

    async def go():
        ws = await W.connect(e.d.netns.path, pf_url(e, pod, [9]), ["v4.channel.k8s.io"])
        chans, code = await W.collect(ws)
        return chans, code
    chans, code = run(go())
    assert chans[1][:2] == (9).to_bytes(2, "little")
    assert b"error forwarding port 9 to pod" in chans[1] and b"refused" in chans[1]
    assert code == 1000  # its only port is over: the session ends
    for q, msg in (("", "query parameter 'port' is required"),
                   ("?port=0", "'0' is not a port"),
                   ("?port=80,x", "'x' is not a port")):
        url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url + q
        err = refused(e, url, ["v4.channel.k8s.io"])
        assert err.status_code == 400, msg
    url = pf_url(e, pod, [9000])
    err = refused(e, url, ["v5.channel.k8s.io"])
    assert err.status_code == 403
    assert "v4.channel.k8s.io" in err.headers["X-Accepted-Stream-Protocol-Versions"]


STALL = 2 << 20  # to the pod that does not read: far beyond its socket buffers


def stall_pod(e):
    """Port 9000 accepts and never reads (nc runs sleep on it); 9001 echoes; TCP
    buffers in the pod's netns are small (spdy.shrink_tcp_buffers)."""
    pod = e.pod()
    cid = e.run(pod, "srv", ["sh", "-c", "nc -ll -p 9000 -e sleep 1000 & "
                                         "nc -ll -p 9001 -e cat & wait"])
    shrink_tcp_buffers(f"/proc/{e.info(cid)['pid']}/ns/net")
    wait_listening(e, pod, 9001)
    return pod


def test_stalled_pod_reader_does_not_stall_another_port(env):
    """2 MiB toward a pod socket nobody reads are queued by berth, not written with a
    blocking send: the second port on the same connection still echoes 1 MiB."""
    e = env
    pod = stall_pod(e)
    b = os.urandom(1 << 20)

    async def go():
        ws = await W.connect(e.d.netns.path, pf_url(e, pod, [9000, 9001]),
                             ["v4.channel.k8s.io"])
        await W.send_all(ws, 0, os.urandom(STALL))
        sender = asyncio.ensure_future(W.send_all(ws, 2, b))
        chans, _ = await W.collect(ws, timeout=120,
                                   until=lambda c: len(c.get(2, b"")) >= len(b) + 2)
        await sender
        await ws.close()
        return chans
    chans = run(go())
    assert chans[2][2:] == b
    assert chans.get(0, b"")[2:] == b""  # the sleeping side sent nothing


def test_client_that_stops_reading_does_not_stall_another(env):
    """A client that reads nothing of a forward whose pod writes without end: berth
    stops reading that pod once the client's queue is full, and a second session
    forwards 1 MiB both ways meanwhile."""
    e = env
    pod = e.pod()
    e.run(pod, "srv", ["sh", "-c", "nc -ll -p 9002 -e head -c 1073741824 /dev/zero & "
                                   "nc -ll -p 9001 -e cat & wait"])
    wait_listening(e, pod, 9001)
    b = os.urandom(1 << 20)

    async def go():
        stuck = await W.connect(e.d.netns.path, pf_url(e, pod, [9002]),
                                ["v4.channel.k8s.io"], max_queue=1, read_limit=4096)
        # the pod writes; nobody reads here: wait until berth has nowhere to put more
        await asyncio.sleep(1)
        chans = await forward(e, pf_url(e, pod, [9001]), [b])
        stuck.transport.abort()
        return chans
    chans = run(go())
    assert chans[0][2:] == b


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def stream_threads(pid):
    out = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/comm") as f:
            out += f.read().strip() == "berth-stream"
    return out


HOLD = r"""
import asyncio, sys, websockets
async def main():
    ex = await websockets.connect(sys.argv[1], subprotocols=["v5.channel.k8s.io"],
                                  compression=None, ping_interval=None)
    pf = await websockets.connect(sys.argv[2], subprotocols=["v4.channel.k8s.io"],
                                  compression=None, ping_interval=None, max_size=None)
    while b"up" not in await ex.recv():
        pass
    await pf.send(bytes([0]) + b"x" * 100000)
    got = 0
    while got < 100000:
        got += len(await pf.recv()) - 1
    print("ready", flush=True)
    await asyncio.sleep(1000)
asyncio.run(main())
"""


def test_killed_client_leaves_nothing(env):
    """A client holding an exec and a port-forward is SIGKILLed: the exec'd process
    is killed, and berthd's connection threads, fds and exec dirs go away."""
    e = env
    pod = e.pod()
    cid = e.run(pod, "a", ["sh", "-c", "nc -ll -p 9001 -e cat & exec sleep 1000"])
    wait_listening(e, pod, 9001)
    pid = e.d.proc.pid
    ex = exec_url(e, cid, ["sh", "-c", "echo up; exec sleep 777"], stdin=True, stdout=True)
    pf = pf_url(e, pod, [9001])
    base_fds = fds(pid)
    assert stream_threads(pid) == 0
    cl = subprocess.Popen(["nsenter", f"--net={e.d.netns.path}", sys.executable, "-c", HOLD,
                           ex.replace("http:", "ws:", 1), pf.replace("http:", "ws:", 1)],
                          stdout=subprocess.PIPE)
    try:
        assert cl.stdout.readline() == b"ready\n"
        assert stream_threads(pid) == 2
        assert "sleep 777" in e.exec(cid, ["sh", "-c", "ps -o args"]).stdout.decode()
    finally:
        cl.kill()
        cl.wait()
    deadline = time.monotonic() + 30
    while True:
        ps = e.exec(cid, ["sh", "-c", "ps -o args"]).stdout.decode()
        left = (stream_threads(pid), fds(pid) > base_fds, "sleep 777" in ps,
                [d for d in os.listdir(e.d.run_dir) if d.startswith("exec-")])
        if left == (0, False, False, []):
            break
        assert time.monotonic() < deadline, left
        time.sleep(0.2)
    assert e.state(cid) == e.pb.CONTAINER_RUNNING


def test_fifty_parallel_sessions(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    urls = [exec_url(e, cid, ["sh", "-c", f"echo out-{i}; echo err-{i} >&2; exit {i % 3}"],
                     stdout=True, stderr=True) for i in range(50)]

    async def one(url):
        ws = await W.connect(e.d.netns.path, url, ["v5.channel.k8s.io"])
        chans, code = await W.collect(ws, timeout=300)
        await ws.close()
        return chans, code

    async def go():
        return await asyncio.gather(*[one(u) for u in urls])
    for i, (chans, code) in enumerate(run(go())):
        assert code == 1000
        assert chans[W.STDOUT] == b"out-%d\n" % i and chans[W.STDERR] == b"err-%d\n" % i
        st = json.loads(chans[W.ERROR])
        if i % 3:
            assert st["details"]["causes"] == [{"reason": "ExitCode", "message": str(i % 3)}]
        else:
            assert st["status"] == "Success"


def self_signed(cert, key, cn="berth-stream"):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    f"/CN={cn}", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)


@pytest.fixture
def tls_env(berthd_factory, net, reg, tmp_path):
    """An Env whose stream server speaks TLS with a self-signed certificate for
    127.0.0.1 (stream.tls_cert, stream.tls_key); yields (env, client SSL context)."""
    cert, key = tmp_path / "stream.crt", tmp_path / "stream.key"
    self_signed(cert, key)
    e = Env(berthd_factory({"stream": {"tls_cert": str(cert), "tls_key": str(key)}},
                           netns=net), reg)
    e.pull("busybox")
    ctx = ssl.create_default_context(cafile=str(cert))
    try:
        yield e, ctx
    finally:
        leaks = e.cleanup()
    assert not leaks, leaks


def test_exec_over_wss_and_https(tls_env):
    e, ctx = tls_env
    cid = e.run(e.pod(), "a", SLEEP)
    data = os.urandom(300000)
    url = exec_url(e, cid, ["sh", "-c", "cat; echo oops >&2"], stdin=True, stdout=True,
                   stderr=True)
    assert url.startswith("https://127.0.0.1:")

    async def go():
        ws = await W.connect(e.d.netns.path, url, ["v5.channel.k8s.io"], ssl=ctx,
                             host="127.0.0.1")
        await W.send_all(ws, W.STDIN, data)
        await W.close_channel(ws, W.STDIN)
        chans, code = await W.collect(ws)
        await ws.close()
        return chans, code
    chans, code = run(go())
    assert chans[W.STDOUT] == data and chans[W.STDERR] == b"oops\n" and code == 1000
    assert json.loads(chans[W.ERROR])["status"] == "Success"
    # plain HTTP on a TLS port gets no upgrade (berth drops the failed handshake)
    with pytest.raises(websockets.exceptions.InvalidMessage):
        run(W.connect(e.d.netns.path, exec_url(e, cid, ["sh", "-c", "true"], stdout=True)
                      .replace("https:", "http:"), ["v5.channel.k8s.io"]))
    # SPDY over https: the same exec
    u = urllib.parse.urlparse(exec_url(e, cid, ["sh", "-c", "echo spdy-tls"], stdout=True))
    sock = ctx.wrap_socket(connect_in_netns(e.d.netns.path, u.hostname, u.port),
                           server_hostname="127.0.0.1")
    c = Client(sock)
    c.upgrade(u.path, ["v4.channel.k8s.io"])
    err = c.open({"streamType": "error"})
    out = c.open({"streamType": "stdout"})
    c.pump(lambda: err.fin and out.fin, timeout=30)
    c.shutdown()
    assert bytes(out.data) == b"spdy-tls\n"
    assert json.loads(err.data)["status"] == "Success"


def test_port_forward_spdy_tunnel(env):
    """SPDY/3.1+portforward.k8s.io: client-go's NewSPDYOverWebsocketDialer (crictl and
    kubectl port-forward over WebSocket) speaks SPDY inside binary messages; 1 MiB through
    cat and a closed port's error over it."""
    e = env
    pod = echo_pod(e, [9000])
    wait_listening(e, pod, 9000)
    url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url
    ts, status, hdrs = W.tunnel_connect(e.d.netns.path, url, ["SPDY/3.1+portforward.k8s.io",
                                                              "v4.channel.k8s.io"])
    assert status == 101 and hdrs["sec-websocket-protocol"] == "SPDY/3.1+portforward.k8s.io"
    c = Client(ts)
    err = c.open({"streamType": "error", "port": "9000", "requestID": "0"})
    data = c.open({"streamType": "data", "port": "9000", "requestID": "0"})
    payload = os.urandom(1 << 20)
    for i in range(0, len(payload), 32768):
        c.send(data, payload[i:i + 32768])
    c.send(data, b"", fin=True)
    c.pump(lambda: data.fin and err.fin, timeout=60)
    assert bytes(data.data) == payload and not err.data
    err = c.open({"streamType": "error", "port": "9", "requestID": "1"})
    data = c.open({"streamType": "data", "port": "9", "requestID": "1"})
    c.pump(lambda: err.fin and data.fin, timeout=20)
    assert b"error forwarding port 9" in err.data
    c.ping(5)
    c.pump(lambda: 5 in c.pings, timeout=10)
    # the client ends: a close frame, answered with one and nothing after it
    ts.s.sendall(ts.frame(0x8, struct.pack(">H", 1000)))
    c.pump(lambda: ts.closed or c.closed, timeout=10)
    assert ts.close_code == 1000
    assert ts.s.recv(65536) == b""  # no frame after the close
    ts.close()


def tls_exec_echo(e, cid, ctx, word):
    url = exec_url(e, cid, ["sh", "-c", f"echo {word}"], stdout=True)

    async def go():
        ws = await W.connect(e.d.netns.path, url, ["v5.channel.k8s.io"], ssl=ctx,
                             host="127.0.0.1")
        chans, _ = await W.collect(ws)
        await ws.close()
        return chans
    return run(go())[W.STDOUT]


def test_stream_tls_files_swapped_live_on_sighup(tls_env, tmp_path):
    """SIGHUP reads the certificate and key again, renewed in place or named anew in
    the config; connections accepted after it present the new certificate."""
    e, old_ctx = tls_env
    d = e.d
    cid = e.run(e.pod(), "a", SLEEP)
    assert tls_exec_echo(e, cid, old_ctx, "before") == b"before\n"
    # renewed in place: same paths, new files
    cert, key = d.config["stream"]["tls_cert"], d.config["stream"]["tls_key"]
    self_signed(cert, key, cn="renewed")
    renewed = ssl.create_default_context(cafile=cert)
    mark = len(d.stderr())
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: 'msg="config reloaded"' in d.stderr()[mark:], 30, "the reload")
    assert 'key=stream.tls_cert msg="reload: unchanged, its files read again"' in \
        d.stderr()[mark:]
    assert tls_exec_echo(e, cid, renewed, "renewed") == b"renewed\n"
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_exec_echo(e, cid, old_ctx, "stale")
    # new paths in the config
    cert2, key2 = tmp_path / "other.crt", tmp_path / "other.key"
    self_signed(cert2, key2, cn="other")
    cfg = json.loads(json.dumps(d.config))
    cfg["stream"].update(tls_cert=str(cert2), tls_key=str(key2))
    with open(d.config_path, "w") as f:
        json.dump(cfg, f)
    mark = len(d.stderr())
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: 'msg="config reloaded"' in d.stderr()[mark:], 30, "the reload")
    log = d.stderr()[mark:]
    assert "key=stream.tls_cert old=" in log and "key=stream.tls_key old=" in log
    assert "applied=1 need_restart=0 failed=0" in log
    other = ssl.create_default_context(cafile=str(cert2))
    assert tls_exec_echo(e, cid, other, "other") == b"other\n"
    # a key file that does not load keeps the running certificate
    with open(key2, "w") as f:
        f.write("not a key\n")
    mark = len(d.stderr())
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: 'msg="config reloaded"' in d.stderr()[mark:], 30, "the reload")
    assert "could not apply, the running value stays" in d.stderr()[mark:]
    assert tls_exec_echo(e, cid, other, "kept") == b"kept\n"
