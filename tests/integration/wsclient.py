# SPDX-License-Identifier: Apache-2.0
"""The WebSocket side of the streaming tests, on Debian's python3-websockets (an
independent RFC 6455 implementation): connections made from sockets in berthd's netns,
and the channel framing of k8s.io/apimachinery's wsstream (a channel byte before the
data; in the base64 protocols an ASCII digit and base64 text)."""

import asyncio
import base64
import hashlib
import os
import struct
import urllib.parse

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode  # noqa: F401

from spdy import connect_in_netns

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
ALL = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
       "base64.channel.k8s.io", "channel.k8s.io"]


def is_b64(ws):
    return "base64" in (ws.subprotocol or "")


def enc(ws, ch, data):
    if is_b64(ws):
        return chr(ord("0") + ch) + base64.b64encode(data).decode()
    return bytes([ch]) + data


def dec(ws, msg):
    if isinstance(msg, str):
        assert is_b64(ws), "text message on a binary protocol"
        return ord(msg[0]) - ord("0"), base64.b64decode(msg[1:])
    assert not is_b64(ws), "binary message on a base64 protocol"
    return msg[0], bytes(msg[1:])


async def connect(netns, url, protocols, ssl=None, host=None, **kw):
    """A websockets client connection to url (http or https) made from netns."""
    u = urllib.parse.urlparse(url)
    sock = connect_in_netns(netns, u.hostname, u.port)
    sock.setblocking(False)
    scheme = "wss" if u.scheme == "https" else "ws"
    uri = f"{scheme}://{u.netloc}{u.path}" + (f"?{u.query}" if u.query else "")
    return await websockets.connect(uri, sock=sock, subprotocols=protocols, compression=None,
                                    ssl=ssl, server_hostname=host if ssl else None,
                                    open_timeout=20, ping_interval=None, max_size=None, **kw)


async def collect(ws, timeout=30, until=None):
    """Every channel's data until the server closes (or until(chans) holds); returns
    (chans, close code or None)."""
    chans = {}

    async def run():
        try:
            while True:
                ch, data = dec(ws, await ws.recv())
                chans.setdefault(ch, bytearray()).extend(data)
                if until and until(chans):
                    return
        except ConnectionClosed:
            return
    await asyncio.wait_for(run(), timeout)
    return {k: bytes(v) for k, v in chans.items()}, ws.close_code


async def send(ws, ch, data):
    await ws.send(enc(ws, ch, data))


async def close_channel(ws, ch):
    """v5 (binary only): the CLOSE signal, 255 then the channel."""
    await ws.send(bytes([CLOSE, ch]))


async def send_all(ws, ch, data, chunk=32768):
    for i in range(0, len(data), chunk):
        await send(ws, ch, data[i:i + chunk])


class TunnelSocket:
    """A raw RFC 6455 client of our own for the SPDY tunnel of client-go's
    NewSPDYOverWebsocketDialer: sendall() sends one masked binary message, recv()
    returns the payload of the binary messages that arrived; enough of a socket for
    spdy.Client (fileno for select, settimeout)."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.closed = False

    def fileno(self):
        return self.s.fileno()

    def settimeout(self, t):
        self.s.settimeout(t)

    @staticmethod
    def frame(op, data):
        key = os.urandom(4)
        n = len(data)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        k = (key * (n // 4 + 1))[:n]
        body = (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") \
            if n else b""
        return head + key + body

    def sendall(self, data):
        self.s.sendall(self.frame(0x2, data))

    def _parse(self):
        out = b""
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            assert not b1 & 0x80, "server frames are not masked"
            n, hl = b1 & 0x7f, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, hl = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n, hl = struct.unpack(">Q", self.buf[2:10])[0], 10
            if len(self.buf) < hl + n:
                break
            payload, self.buf = self.buf[hl:hl + n], self.buf[hl + n:]
            op = b0 & 0x0f
            if op == 0x8:
                self.closed = True
                self.close_code = struct.unpack(">H", payload[:2])[0] if payload else None
            else:
                assert op in (0x0, 0x2), f"opcode {op} in a SPDY tunnel"
                out += payload
        return out

    def recv(self, n):
        """Payload bytes; b"" once the server closed (a close frame or EOF)."""
        while True:
            out = self._parse()
            if out or self.closed:
                return out
            chunk = self.s.recv(65536)
            if not chunk:
                return b""
            self.buf += chunk

    def close(self):
        self.s.close()


def tunnel_connect(netns, url, protocols):
    """The WebSocket handshake by hand; returns (TunnelSocket, status, headers)."""
    u = urllib.parse.urlparse(url)
    sock = connect_in_netns(netns, u.hostname, u.port)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: Upgrade\r\n"
           f"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
           f"Sec-WebSocket-Protocol: {', '.join(protocols)}\r\n\r\n")
    sock.sendall(req.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the handshake"
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    ts = TunnelSocket(sock)
    ts.buf = rest
    want = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    status = int(lines[0].split()[1])
    if status == 101:
        assert hdrs["sec-websocket-accept"] == want
    return ts, status, hdrs
