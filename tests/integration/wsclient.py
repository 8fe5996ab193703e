# SPDX-License-Identifier: Apache-2.0
"""The WebSocket side of the streaming tests, on Debian's python3-websockets (an
independent RFC 6455 implementation): connections made from sockets in berthd's netns,
and the channel framing of k8s.io/apimachinery's wsstream (a channel byte before the
data; in the base64 protocols an ASCII digit and base64 text)."""

import asyncio
import base64
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
