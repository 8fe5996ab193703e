# SPDX-License-Identifier: Apache-2.0
"""A small SPDY/3.1 client for the streaming tests: the HTTP/1.1 upgrade, frames, and
header blocks compressed with zlib and the SPDY/3 dictionary (one context each way for
the connection, as github.com/moby/spdystream does)."""

import ctypes
import os
import select
import socket
import struct
import subprocess
import threading
import time
import zlib

# The SPDY/3 header dictionary (draft 3, section 2.6.10.1).
SPDY_DICT = bytes.fromhex(
    "000000076f7074696f6e73000000046865616400000004706f7374000000037075740000000664656c657465"
    "000000057472616365000000066163636570740000000e6163636570742d636861727365740000000f616363"
    "6570742d656e636f64696e670000000f6163636570742d6c616e67756167650000000d6163636570742d7261"
    "6e6765730000000361676500000005616c6c6f770000000d617574686f72697a6174696f6e0000000d636163"
    "68652d636f6e74726f6c0000000a636f6e6e656374696f6e0000000c636f6e74656e742d6261736500000010"
    "636f6e74656e742d656e636f64696e6700000010636f6e74656e742d6c616e67756167650000000e636f6e74"
    "656e742d6c656e67746800000010636f6e74656e742d6c6f636174696f6e0000000b636f6e74656e742d6d64"
    "350000000d636f6e74656e742d72616e67650000000c636f6e74656e742d7479706500000004646174650000"
    "0004657461670000000665787065637400000007657870697265730000000466726f6d00000004686f737400"
    "00000869662d6d617463680000001169662d6d6f6469666965642d73696e63650000000d69662d6e6f6e652d"
    "6d617463680000000869662d72616e67650000001369662d756e6d6f6469666965642d73696e63650000000d"
    "6c6173742d6d6f646966696564000000086c6f636174696f6e0000000c6d61782d666f727761726473000000"
    "06707261676d610000001270726f78792d61757468656e7469636174650000001370726f78792d617574686f"
    "72697a6174696f6e0000000572616e676500000007726566657265720000000b72657472792d616674657200"
    "00000673657276657200000002746500000007747261696c6572000000117472616e736665722d656e636f64"
    "696e6700000007757067726164650000000a757365722d6167656e7400000004766172790000000376696100"
    "0000077761726e696e67000000107777772d61757468656e746963617465000000066d6574686f6400000003"
    "6765740000000673746174757300000006323030204f4b0000000776657273696f6e00000008485454502f31"
    "2e310000000375726c000000067075626c69630000000a7365742d636f6f6b69650000000a6b6565702d616c"
    "697665000000066f726967696e31303031303132303132303232303532303633303033303233303333303433"
    "3035333036333037343032343035343036343037343038343039343130343131343132343133343134343135"
    "343136343137353032353034353035323033204e6f6e2d417574686f726974617469766520496e666f726d61"
    "74696f6e323034204e6f20436f6e74656e74333031204d6f766564205065726d616e656e746c793430302042"
    "6164205265717565737434303120556e617574686f72697a656434303320466f7262696464656e343034204e"
    "6f7420466f756e6435303020496e7465726e616c20536572766572204572726f72353031204e6f7420496d70"
    "6c656d656e746564353033205365727669636520556e617661696c61626c654a616e20466562204d61722041"
    "7072204d6179204a756e204a756c204175672053657074204f6374204e6f76204465632030303a30303a3030"
    "204d6f6e2c205475652c205765642c205468752c204672692c205361742c2053756e2c20474d546368756e6b"
    "65642c746578742f68746d6c2c696d6167652f706e672c696d6167652f6a70672c696d6167652f6769662c61"
    "70706c69636174696f6e2f786d6c2c6170706c69636174696f6e2f7868746d6c2b786d6c2c746578742f706c"
    "61696e2c746578742f6a6176617363726970742c7075626c6963707269766174656d61782d6167653d677a69"
    "702c6465666c6174652c73646368636861727365743d7574662d38636861727365743d69736f2d383835392d"
    "312c7574662d2c2a2c656e713d302e")

assert len(SPDY_DICT) == 1423

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY = 1, 2, 3, 4, 6, 7
FLAG_FIN = 1
CLONE_NEWNET = 0x40000000


def shrink_tcp_buffers(netns_path, size=65536):
    """Caps TCP socket buffers in a (pod's) netns, so that a peer that does not read
    blocks a writer after about 2 * size bytes instead of megabytes."""
    val = f"4096 16384 {size}"
    subprocess.run(["nsenter", f"--net={netns_path}", "sysctl", "-q", "-w",
                    f"net.ipv4.tcp_rmem={val}", f"net.ipv4.tcp_wmem={val}"], check=True)


def connect_in_netns(netns_path, host, port, timeout=10):
    """A TCP socket connected from inside netns_path (a thread's setns: the socket stays
    in that namespace; the thread ends afterwards)."""
    out = {}

    def run():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            s = socket.create_connection((host, port), timeout=timeout)
            out["s"] = s
        except Exception as e:  # noqa: BLE001 - handed to the caller
            out["e"] = e
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["s"]


class HTTPError(Exception):
    def __init__(self, status, head, body):
        super().__init__(f"HTTP {status}: {body!r}")
        self.status, self.head, self.body = status, head, body


class Stream:
    def __init__(self, sid, headers):
        self.id, self.headers = sid, headers
        self.data = bytearray()
        self.replied = self.fin = self.reset = False


class Client:
    """One connection. upgrade() does the HTTP part; then open() streams, send() data,
    and pump() frames until a condition holds."""

    def __init__(self, sock):
        self.s = sock
        self.s.settimeout(None)
        self.buf = b""
        self.next_id = 1
        self.streams = {}
        self.comp = zlib.compressobj(zdict=SPDY_DICT)
        self.decomp = zlib.decompressobj(zdict=SPDY_DICT)
        self.goaway = self.closed = False
        self.pings = []
        self.protocol = None

    def http(self, method, path, headers):
        req = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
        for k, v in headers:
            req += f"{k}: {v}\r\n"
        self.s.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        self.buf = rest
        return status, hdrs

    def upgrade(self, path, protocols):
        headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]
        headers += [("X-Stream-Protocol-Version", p) for p in protocols]
        status, hdrs = self.http("POST", path, headers)
        if status != 101:
            body = self.buf
            n = int(hdrs.get("content-length", "0"))
            while len(body) < n:
                chunk = self.s.recv(65536)
                if not chunk:
                    break
                body += chunk
            raise HTTPError(status, hdrs, body.decode(errors="replace"))
        self.protocol = hdrs.get("x-stream-protocol-version")
        return hdrs

    def _block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            k, v = k.lower().encode(), str(v).encode()
            raw += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
        return self.comp.compress(raw) + self.comp.flush(zlib.Z_SYNC_FLUSH)

    def _ctl(self, typ, flags, body):
        return struct.pack(">HHI", 0x8000 | 3, typ, (flags << 24) | len(body)) + body

    def open(self, headers, wait=True, timeout=10):
        sid = self.next_id
        self.next_id += 2
        st = self.streams[sid] = Stream(sid, headers)
        body = struct.pack(">IIH", sid, 0, 0) + self._block(headers)
        self.s.sendall(self._ctl(SYN_STREAM, 0, body))
        if wait:
            self.pump(lambda: st.replied or st.reset, timeout)
        return st

    def send(self, st, data, fin=False):
        self.s.sendall(struct.pack(">II", st.id, ((FIN if fin else 0) << 24) | len(data)) + data)

    def close(self, st):
        self.send(st, b"", fin=True)

    def ping(self, pid):
        self.s.sendall(self._ctl(PING, 0, struct.pack(">I", pid)))

    def _frames(self):
        while len(self.buf) >= 8:
            n = struct.unpack(">I", self.buf[4:8])[0] & 0xffffff
            if len(self.buf) < 8 + n:
                return
            head, body = self.buf[:8], self.buf[8:8 + n]
            self.buf = self.buf[8 + n:]
            flags = head[4]
            if head[0] & 0x80:
                typ = struct.unpack(">H", head[2:4])[0]
                if typ == SYN_REPLY:
                    sid = struct.unpack(">I", body[:4])[0] & 0x7fffffff
                    self.decomp.decompress(body[4:])
                    self.streams[sid].replied = True
                    if flags & FLAG_FIN:
                        self.streams[sid].fin = True
                elif typ == RST_STREAM:
                    sid = struct.unpack(">I", body[:4])[0] & 0x7fffffff
                    self.streams[sid].reset = True
                elif typ == GOAWAY:
                    self.goaway = True
                elif typ == PING:
                    self.pings.append(struct.unpack(">I", body[:4])[0])
            else:
                sid = struct.unpack(">I", head[:4])[0] & 0x7fffffff
                st = self.streams[sid]
                st.data += body
                if flags & FLAG_FIN:
                    st.fin = True

    def pump(self, until, timeout=20):
        """Reads frames until until() is true; raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            self._frames()
            if until():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("condition not met in time")
            if self.closed:
                raise ConnectionError("connection closed")
            r, _, _ = select.select([self.s], [], [], left)
            if r:
                chunk = self.s.recv(65536)
                if not chunk:
                    self.closed = True
                self.buf += chunk

    def shutdown(self):
        self.s.close()


FIN = FLAG_FIN
