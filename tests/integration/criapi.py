# SPDX-License-Identifier: Apache-2.0
"""CRI v1 client for the integration tests: Python message classes generated
from proto/api.proto at test time (protoc --python_out), and a small gRPC
client that calls methods by name with plain grpcio channels (no grpc_tools)."""
import importlib
import os
import subprocess
import sys

import grpc

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(TOP, "proto")
MSG_MAX = 16 * 1024 * 1024


def generate(out_dir):
    """Generates api_pb2 into out_dir and returns the imported module."""
    subprocess.run(["protoc", f"--python_out={out_dir}", f"-I{PROTO_DIR}",
                    os.path.join(PROTO_DIR, "api.proto")], check=True)
    sys.path.insert(0, out_dir)
    try:
        return importlib.import_module("api_pb2")
    finally:
        sys.path.remove(out_dir)


def _streaming_methods():
    """Server-streaming RPC names, read from the .proto (the Python descriptors
    of protobuf 3.21 don't expose the streaming flags)."""
    names = set()
    with open(os.path.join(PROTO_DIR, "api.proto")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("rpc ") and "returns (stream " in line:
                names.add(line[4:line.index("(")])
    return names


class Client:
    """A CRI client on a unix socket. call("Version") builds the default request
    when none is given; errors raise grpc.RpcError."""

    def __init__(self, pb, socket_path, max_msg=2 * MSG_MAX):
        self.pb = pb
        self.channel = grpc.insecure_channel(
            "unix:" + socket_path,
            options=[("grpc.max_receive_message_length", max_msg),
                     ("grpc.max_send_message_length", max_msg)])
        self.streaming = _streaming_methods()

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def method(self, name):
        """(full path, request class, response class) of an RPC by short name."""
        for svc in self.pb.DESCRIPTOR.services_by_name.values():
            m = svc.methods_by_name.get(name)
            if m:
                return (f"/{svc.full_name}/{name}", getattr(self.pb, m.input_type.name),
                        getattr(self.pb, m.output_type.name))
        raise KeyError(f"no CRI method {name!r}")

    def call(self, name, req=None, timeout=10):
        path, req_cls, resp_cls = self.method(name)
        assert name not in self.streaming, f"{name} is streaming: use stream()"
        mc = self.channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                      response_deserializer=resp_cls.FromString)
        return mc(req if req is not None else req_cls(), timeout=timeout)

    def future(self, name, req=None, timeout=10):
        path, req_cls, resp_cls = self.method(name)
        mc = self.channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                      response_deserializer=resp_cls.FromString)
        return mc.future(req if req is not None else req_cls(), timeout=timeout)

    def stream(self, name, req=None, timeout=10):
        """Iterator over the responses of a server-streaming RPC."""
        path, req_cls, resp_cls = self.method(name)
        mc = self.channel.unary_stream(path, request_serializer=req_cls.SerializeToString,
                                       response_deserializer=resp_cls.FromString)
        return mc(req if req is not None else req_cls(), timeout=timeout)

    def raw(self, path, payload, timeout=10):
        """Sends payload bytes as-is to a full method path; returns raw bytes."""
        return self.channel.unary_unary(path)(payload, timeout=timeout)
