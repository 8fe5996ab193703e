# SPDX-License-Identifier: Apache-2.0
"""The streaming list RPCs (StreamPodSandboxes, StreamContainers, StreamImages) through
berthd: the same objects as the matching List call with the same filter, on real pods,
containers and images; a filter naming nothing streams nothing.

Every test ends with the leak check of the container tests (ctrutil.Env.cleanup)."""


from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

SLEEP = ["sh", "-c", "exec sleep 1000"]



def streamed(e, method, req, field):
    """Every item of every message of a server stream, in order."""
    out = []
    for msg in e.c.stream(method, req):
        out.extend(getattr(msg, field))
    return out


def test_streams_match_lists(env):
    e, pb = env, env.pb
    e.pull("busybox")
    e.pull("multi")
    pods = [e.pod(f"p{i}") for i in range(2)]
    ids = [e.run(pods[0], "a", SLEEP), e.run(pods[0], "b", SLEEP), e.run(pods[1], "c", SLEEP)]
    created = e.create(pods[1], e.ctr_config("d", command=SLEEP))

    def same(list_method, list_req, list_field, stream_method, stream_req, stream_field):
        want = list(getattr(e.call(list_method, list_req), list_field))
        got = streamed(e, stream_method, stream_req, stream_field)
        assert sorted(x.SerializeToString(deterministic=True) for x in got) == \
            sorted(x.SerializeToString(deterministic=True) for x in want)
        return got

    got = same("ListPodSandbox", pb.ListPodSandboxRequest(), "items",
               "StreamPodSandboxes", pb.StreamPodSandboxesRequest(), "pod_sandboxes")
    assert sorted(p.id for p in got) == sorted(p[0] for p in pods)
    got = same("ListContainers", pb.ListContainersRequest(), "containers",
               "StreamContainers", pb.StreamContainersRequest(), "containers")
    assert sorted(c.id for c in got) == sorted(ids + [created])
    got = same("ListImages", pb.ListImagesRequest(), "images",
               "StreamImages", pb.StreamImagesRequest(), "images")
    assert len(got) == 2

    # filters: the List call's
    f = pb.ContainerFilter(pod_sandbox_id=pods[1][0], state=pb.ContainerStateValue(
        state=pb.CONTAINER_RUNNING))
    got = same("ListContainers", pb.ListContainersRequest(filter=f), "containers",
               "StreamContainers", pb.StreamContainersRequest(filter=f), "containers")
    assert [c.id for c in got] == [ids[2]]
    f = pb.ContainerFilter(label_selector={"app": "b"})
    got = streamed(e, "StreamContainers", pb.StreamContainersRequest(filter=f), "containers")
    assert [c.id for c in got] == [ids[1]]
    f = pb.PodSandboxFilter(id=pods[0][0][:12])
    got = same("ListPodSandbox", pb.ListPodSandboxRequest(filter=f), "items",
               "StreamPodSandboxes", pb.StreamPodSandboxesRequest(filter=f), "pod_sandboxes")
    assert [p.id for p in got] == [pods[0][0]]
    f = pb.ImageFilter(image=pb.ImageSpec(image=e.image("multi")))
    got = streamed(e, "StreamImages", pb.StreamImagesRequest(filter=f), "images")
    assert len(got) == 1 and got[0].repo_tags == [e.image("multi")]

    # a filter that names nothing: an empty stream, not an error
    f = pb.ContainerFilter(id="ffffffffffff")
    assert streamed(e, "StreamContainers", pb.StreamContainersRequest(filter=f),
                    "containers") == []
    f = pb.ImageFilter(image=pb.ImageSpec(image="no/such:image"))
    assert streamed(e, "StreamImages", pb.StreamImagesRequest(filter=f), "images") == []
    for cid in ids:
        e.stop(cid)
