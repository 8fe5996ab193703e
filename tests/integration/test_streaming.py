# SPDX-License-Identifier: Apache-2.0
"""Exec, Attach and PortForward through berthd's streaming server, with the SPDY/3.1
client of spdy.py speaking what client-go's remotecommand and portforward speak: the
RPC validates and answers a URL; the URL upgrades to SPDY; the streams carry stdio,
the v4 status on the error stream, or a forwarded TCP connection into the pod.

Every test ends with the leak check of the container tests (ctrutil.Env.cleanup)."""

import json
import os
import time
import urllib.parse

import grpc
import pytest

from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401
from spdy import Client, HTTPError, connect_in_netns, shrink_tcp_buffers

SLEEP = ["sh", "-c", "exec sleep 1000"]
V4 = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]


def connect(e, url):
    u = urllib.parse.urlparse(url)
    assert u.scheme == "http" and u.hostname == "127.0.0.1"
    return Client(connect_in_netns(e.d.netns.path, u.hostname, u.port)), u.path


def run_stream(e, url, stdin=None, stdout=True, stderr=False, tty=False, resize=None,
               protocols=V4):
    """Upgrades, opens the streams client-go opens (error first), sends stdin (then
    FIN) and waits for the error stream and every output stream to end."""
    c, path = connect(e, url)
    c.upgrade(path, protocols)
    err = c.open({"streamType": "error"})
    sin = c.open({"streamType": "stdin"}) if stdin is not None else None
    out = c.open({"streamType": "stdout"}) if stdout else None
    serr = c.open({"streamType": "stderr"}) if stderr else None
    if tty:
        rz = c.open({"streamType": "resize"})
        if resize:
            c.send(rz, json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
    if sin is not None:
        if stdin:
            c.send(sin, stdin)
        c.close(sin)
    outs = [s for s in (out, serr) if s]
    c.pump(lambda: err.fin and all(s.fin for s in outs), timeout=30)
    c.shutdown()
    status = json.loads(err.data) if err.data else None
    return status, bytes(out.data) if out else None, bytes(serr.data) if serr else None


def exec_url(e, cid, cmd, **kw):
    return e.call("Exec", e.pb.ExecRequest(container_id=cid, cmd=cmd, **kw)).url


def test_exec_stdout_and_stdin(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    status, out, _ = run_stream(e, exec_url(e, cid, ["sh", "-c", "echo hello"], stdout=True))
    assert status == {"metadata": {}, "status": "Success"}
    assert out == b"hello\n"
    data = b"".join(b"line %d\n" % i for i in range(2000))
    status, out, _ = run_stream(e, exec_url(e, cid, ["sh", "-c", "exec cat"], stdin=True,
                                               stdout=True),
                                stdin=data)
    assert status["status"] == "Success"
    assert out == data
    # v3 and older: nothing on the error stream for success
    status, out, _ = run_stream(e, exec_url(e, cid, ["sh", "-c", "echo x"], stdout=True),
                                protocols=["v3.channel.k8s.io"])
    assert status is None and out == b"x\n"


def test_exec_nonzero_exit(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "echo out; echo oops >&2; exit 3"], stdout=True,
                   stderr=True)
    status, out, err = run_stream(e, url, stderr=True)
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert out == b"out\n" and err == b"oops\n"
    # a command that cannot run: a failure on the error stream, not a hang
    status, _, _ = run_stream(e, exec_url(e, cid, ["/no/such/bin"], stdout=True))
    assert status["status"] == "Failure"


def test_exec_tty(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "read x; stty size; echo got:$x"], stdin=True,
                   stdout=True, tty=True)
    c, path = connect(e, url)
    c.upgrade(path, V4)
    assert c.protocol == "v4.channel.k8s.io"
    err = c.open({"streamType": "error"})
    sin = c.open({"streamType": "stdin"})
    out = c.open({"streamType": "stdout"})
    rz = c.open({"streamType": "resize"})
    # the size is applied before later frames are read, so before the line arrives
    c.send(rz, b'{"Width":100,"Height":30}')
    c.send(sin, b"abc\n")
    c.pump(lambda: err.fin and out.fin, timeout=30)
    c.shutdown()
    assert json.loads(err.data)["status"] == "Success"
    text = bytes(out.data).replace(b"\r\n", b"\n")
    assert b"got:abc\n" in text
    assert b"30 100\n" in text  # the window size the resize stream set


def test_exec_client_gone_kills_process(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    c, path = connect(e, exec_url(e, cid, ["sh", "-c", "echo up; exec sleep 777"], stdout=True))
    c.upgrade(path, V4)
    c.open({"streamType": "error"})
    out = c.open({"streamType": "stdout"})
    c.pump(lambda: out.data == b"up\n", timeout=20)
    c.shutdown()
    deadline = time.monotonic() + 20
    while True:
        ps = e.exec(cid, ["sh", "-c", "ps -o args"]).stdout.decode()
        if "sleep 777" not in ps:
            break
        assert time.monotonic() < deadline, ps
        time.sleep(0.1)
    assert e.state(cid) == e.pb.CONTAINER_RUNNING


def test_attach_stdin_stdout(env):
    e = env
    cid = e.run(e.pod(), "a", ["sh", "-c", "exec cat"], stdin=True)
    url = e.call("Attach", e.pb.AttachRequest(container_id=cid, stdin=True, stdout=True)).url
    c, path = connect(e, url)
    c.upgrade(path, V4)
    err = c.open({"streamType": "error"})
    sin = c.open({"streamType": "stdin"})
    out = c.open({"streamType": "stdout"})
    c.send(sin, b"ping-attach\n")
    c.pump(lambda: b"ping-attach\n" in out.data, timeout=20)
    # the container ends: the attach ends with Success
    e.stop(cid, timeout=0)
    c.pump(lambda: err.fin, timeout=30)
    c.shutdown()
    assert json.loads(err.data)["status"] == "Success"


def test_port_forward(env):
    e = env
    pod = e.pod()
    e.run(pod, "web", ["sh", "-c", "mkdir -p /tmp/w && echo hi-pf > /tmp/w/index.html && "
                                   "exec httpd -f -p 8080 -h /tmp/w"])
    url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0],
                                                        port=[8080])).url
    c, path = connect(e, url)
    c.upgrade(path, ["portforward.k8s.io"])
    assert c.protocol == "portforward.k8s.io"
    deadline = time.monotonic() + 20
    rid = 0
    while True:  # until httpd listens
        err = c.open({"streamType": "error", "port": "8080", "requestID": str(rid)})
        data = c.open({"streamType": "data", "port": "8080", "requestID": str(rid)})
        c.send(data, b"GET /index.html HTTP/1.0\r\n\r\n", fin=True)
        c.pump(lambda: data.fin and err.fin, timeout=20)
        if not err.data:
            break
        assert b"error forwarding port 8080" in err.data
        assert time.monotonic() < deadline, err.data
        rid += 1
        time.sleep(0.1)
    assert data.data.startswith(b"HTTP/1.") and data.data.endswith(b"hi-pf\n")
    # a closed port: the reason on the error stream, the connection stays usable
    err = c.open({"streamType": "error", "port": "9", "requestID": "x"})
    data = c.open({"streamType": "data", "port": "9", "requestID": "x"})
    c.pump(lambda: err.fin and data.fin, timeout=20)
    assert b"error forwarding port 9" in err.data and b"refused" in err.data
    c.ping(7)
    c.pump(lambda: 7 in c.pings, timeout=10)
    c.shutdown()


def code_of(e, name, req):
    with pytest.raises(grpc.RpcError) as ei:
        e.call(name, req)
    return ei.value.code(), ei.value.details()


def test_bad_requests(env):
    e, pb = env, env.pb
    pod = e.pod()
    cid = e.run(pod, "a", SLEEP)
    G = grpc.StatusCode
    assert code_of(e, "Exec", pb.ExecRequest(container_id=cid, stdout=True))[0] == \
        G.INVALID_ARGUMENT
    c, msg = code_of(e, "Exec", pb.ExecRequest(container_id=cid, cmd=["true"]))
    assert c == G.INVALID_ARGUMENT and "one of stdin, stdout, or stderr" in msg
    c, msg = code_of(e, "Exec", pb.ExecRequest(container_id=cid, cmd=["true"], tty=True,
                                               stdout=True, stderr=True))
    assert c == G.INVALID_ARGUMENT and "tty and stderr" in msg
    c, msg = code_of(e, "Exec", pb.ExecRequest(container_id="nope", cmd=["true"], stdout=True))
    assert c == G.NOT_FOUND and "nope" in msg
    c, msg = code_of(e, "Attach", pb.AttachRequest(container_id="nope", stdout=True))
    assert c == G.NOT_FOUND
    c, msg = code_of(e, "PortForward", pb.PortForwardRequest(pod_sandbox_id="nope"))
    assert c == G.NOT_FOUND and "nope" in msg
    e.stop(cid)
    c, msg = code_of(e, "Exec", pb.ExecRequest(container_id=cid, cmd=["true"], stdout=True))
    assert c == G.FAILED_PRECONDITION and "not running" in msg
    c, msg = code_of(e, "Attach", pb.AttachRequest(container_id=cid, stdout=True))
    assert c == G.FAILED_PRECONDITION
    e.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=pod[0]))
    c, msg = code_of(e, "PortForward", pb.PortForwardRequest(pod_sandbox_id=pod[0]))
    assert c == G.FAILED_PRECONDITION and "not ready" in msg


def test_tokens_and_handshake(env):
    e = env
    cid = e.run(e.pod(), "a", SLEEP)
    url = exec_url(e, cid, ["sh", "-c", "echo once"], stdout=True)
    status, out, _ = run_stream(e, url)
    assert out == b"once\n"
    # a token is good for one connection only
    c, path = connect(e, url)
    with pytest.raises(HTTPError) as ei:
        c.upgrade(path, V4)
    assert ei.value.status == 404
    c.shutdown()
    c, path = connect(e, url.rsplit("/", 1)[0] + "/unknownTokn")
    with pytest.raises(HTTPError) as ei:
        c.upgrade(path, V4)
    assert ei.value.status == 404
    c.shutdown()
    # an exec token is not an attach token
    url = exec_url(e, cid, ["sh"], stdout=True)
    c, path = connect(e, url.replace("/exec/", "/attach/"))
    with pytest.raises(HTTPError) as ei:
        c.upgrade(path, V4)
    assert ei.value.status == 404
    c.shutdown()
    # no common protocol: 403 listing ours
    c, path = connect(e, exec_url(e, cid, ["sh"], stdout=True))
    with pytest.raises(HTTPError) as ei:
        c.upgrade(path, ["v9.channel.k8s.io"])
    assert ei.value.status == 403
    assert "v4.channel.k8s.io" in ei.value.head["x-accepted-stream-protocol-versions"]
    c.shutdown()


def test_sigterm_with_sessions_open(env):
    """berthd's stop ends open sessions: the exec'd process is killed, the clients see
    the connection close, berthd exits 0 without a sanitizer report (restart checks)."""
    e = env
    pod = e.pod()
    cid = e.run(pod, "a", SLEEP)
    c, path = connect(e, exec_url(e, cid, ["sh", "-c", "echo up; exec sleep 555"],
                                  stdin=True, stdout=True))
    c.upgrade(path, V4)
    c.open({"streamType": "error"})
    c.open({"streamType": "stdin"})
    out = c.open({"streamType": "stdout"})
    c.pump(lambda: out.data == b"up\n", timeout=20)
    url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url
    pf, pfpath = connect(e, url)
    pf.upgrade(pfpath, ["portforward.k8s.io"])
    e.d.restart()
    c.pump(lambda: c.closed, timeout=20)
    pf.pump(lambda: pf.closed, timeout=20)
    c.shutdown()
    pf.shutdown()
    e.c = e.d.client()
    deadline = time.monotonic() + 10
    while True:  # the first call may meet the old connection's broken pipe
        try:
            ps = e.exec(cid, ["sh", "-c", "ps -o args"]).stdout.decode()
            break
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert "sleep 555" not in ps


def test_port_forward_stalled_pod_reader(env):
    """Bytes toward a pod socket nobody reads are queued, not sent with a blocking
    write: another request on the same connection still echoes 1 MiB."""
    e = env
    pod = e.pod()
    cid = e.run(pod, "srv", ["sh", "-c", "nc -ll -p 9000 -e sleep 1000 & "
                                         "nc -ll -p 9001 -e cat & wait"])
    shrink_tcp_buffers(f"/proc/{e.info(cid)['pid']}/ns/net")
    url = e.call("PortForward", e.pb.PortForwardRequest(pod_sandbox_id=pod[0])).url
    c, path = connect(e, url)
    c.upgrade(path, ["portforward.k8s.io"])
    c.s.settimeout(120)  # a stalled berthd fails the test instead of hanging it
    deadline = time.monotonic() + 20
    for rid in range(1000):  # until the echo listens
        err = c.open({"streamType": "error", "port": "9001", "requestID": f"w{rid}"})
        data = c.open({"streamType": "data", "port": "9001", "requestID": f"w{rid}"})
        c.send(data, b"x")
        c.pump(lambda: data.data == b"x" or err.fin, timeout=20)
        if data.data == b"x":
            break
        assert time.monotonic() < deadline, err.data
        time.sleep(0.2)
    sa = c.open({"streamType": "error", "port": "9000", "requestID": "a"})
    da = c.open({"streamType": "data", "port": "9000", "requestID": "a"})
    chunk = os.urandom(32768)
    for _ in range(64):  # 2 MiB: far beyond the socket buffers of a pod that never reads
        c.send(da, chunk)
    sb = c.open({"streamType": "error", "port": "9001", "requestID": "b"})
    db = c.open({"streamType": "data", "port": "9001", "requestID": "b"})
    b = os.urandom(1 << 20)
    for i in range(0, len(b), 32768):
        c.send(db, b[i:i + 32768])
    c.pump(lambda: len(db.data) >= len(b), timeout=120)
    assert bytes(db.data) == b and not sb.data and not da.data and not sa.data
    c.shutdown()
