# SPDX-License-Identifier: Apache-2.0
"""CheckpointContainer, CheckpointPod and RestorePod (issue 11) stay unimplemented, and say
why: checkpointing needs CRIU, which fails on this kernel in Debian 12's version. The
status is UNIMPLEMENTED, which kubelet and crictl read as "not supported", and its message
is what `crictl checkpoint` prints."""
import grpc
import pytest


def test_checkpoint_rpcs_say_why(berthd):
    pb = berthd.pb
    c = berthd.client()
    for name, req in (("CheckpointContainer",
                       pb.CheckpointContainerRequest(container_id="c", location="/tmp/x.tar")),
                      ("CheckpointPod", pb.CheckpointPodRequest(pod_sandbox_id="p")),
                      ("RestorePod", pb.RestorePodRequest(checkpoint_path="/tmp/x.tar"))):
        with pytest.raises(grpc.RpcError) as ei:
            c.call(name, req)
        e = ei.value
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED, (name, e.details())
        assert e.details().startswith(f"{name} is not supported: "), e.details()
        assert "CRIU" in e.details() and "3.17" in e.details()
    assert c.call("Version").runtime_name == "berth"
