# SPDX-License-Identifier: Apache-2.0
"""GetContainerEvents (docs/events.md): real pods and containers on real runc, with
clients subscribed through grpcio. A subscription is live once its response headers
arrive (berthd sends them right after subscribing), so every test waits for them
before it acts, and then must see every event of what it does:

- a container's CREATED, STARTED, STOPPED (an exit by itself, and StopContainer) and
  DELETED, in that order, with the pod's status and its containers' statuses as
  PodSandboxStatus and ContainerStatus return them; the pod's own events keyed by the
  sandbox ID;
- two subscribers both get every event, the same;
- cancelled streams free their slots (limit 64) and leave berthd serving;
- SIGTERM with a stream open still stops berthd within 2 s.

Every test that makes pods ends with ctrutil.Env.cleanup's leak check."""
import threading

import grpc
import pytest

from conftest import poll
from ctrutil import env, net, reg  # noqa: F401
from registry import test_images  # noqa: F401

SLEEP = ["sh", "-c", "exec sleep 1000"]
# Exits 3 by itself once it gets SIGUSR1 (sent by an ExecSync'd kill).
EXIT_ON_USR1 = ["sh", "-c", "trap 'exit 3' USR1; while :; do sleep 1 & wait $!; done"]
MAX_STREAMS = 64



class Events:
    """One GetContainerEvents stream, read by a thread of its own into .events."""

    def __init__(self, client):
        self.call = client.stream("GetContainerEvents", timeout=600)
        self.call.initial_metadata()  # subscribed: every later event reaches us
        self.events = []
        self.error = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for ev in self.call:
                with self.lock:
                    self.events.append(ev)
        except grpc.RpcError as e:
            self.error = e

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def find(self, cid, etype):
        for ev in self.snapshot():
            if ev.container_id == cid and ev.container_event_type == etype:
                return ev
        return None

    def wait(self, cid, etype, timeout=30):
        poll(lambda: self.find(cid, etype) is not None, timeout,
             f"event {etype} of {cid[:12]}")
        return self.find(cid, etype)

    def types_of(self, cid):
        return [ev.container_event_type for ev in self.snapshot() if ev.container_id == cid]

    def cancel(self):
        self.call.cancel()
        self.thread.join(10)
        assert not self.thread.is_alive()


def status_of(ev, cid):
    for s in ev.containers_statuses:
        if s.id == cid:
            return s
    return None


def assert_matches_rpcs(env, ev, sid):
    """The event's statuses are those PodSandboxStatus and ContainerStatus return
    (called while nothing changes)."""
    assert ev.pod_sandbox_status == env.call(
        "PodSandboxStatus", env.pb.PodSandboxStatusRequest(pod_sandbox_id=sid)).status
    ids = sorted(c.id for c in env.list(pod_sandbox_id=sid))
    assert sorted(s.id for s in ev.containers_statuses) == ids
    for s in ev.containers_statuses:
        assert s == env.status(s.id).status


def test_container_lifecycle_events(env):
    pb = env.pb
    evs = Events(env.d.client())
    pod = env.pod()
    sid, pcfg = pod
    ev = evs.wait(sid, pb.CONTAINER_STARTED_EVENT)
    assert ev.pod_sandbox_status.state == pb.SANDBOX_READY
    assert_matches_rpcs(env, ev, sid)

    # an exit by itself
    a = env.create(pod, env.ctr_config("selfexit", command=EXIT_ON_USR1))
    ev = evs.wait(a, pb.CONTAINER_CREATED_EVENT)
    assert status_of(ev, a).state == pb.CONTAINER_CREATED
    env.start(a)
    ev = evs.wait(a, pb.CONTAINER_STARTED_EVENT)
    assert status_of(ev, a).state == pb.CONTAINER_RUNNING
    assert_matches_rpcs(env, ev, sid)
    env.exec(a, ["sh", "-c", "kill -USR1 1"])
    ev = evs.wait(a, pb.CONTAINER_STOPPED_EVENT)
    st = status_of(ev, a)
    assert st.state == pb.CONTAINER_EXITED
    assert (st.exit_code, st.reason) == (3, "Error")
    assert_matches_rpcs(env, ev, sid)

    # StopContainer
    b = env.run(pod, "sleeper", SLEEP)
    ev = evs.wait(b, pb.CONTAINER_STARTED_EVENT)
    assert status_of(ev, b).state == pb.CONTAINER_RUNNING
    assert status_of(ev, a).state == pb.CONTAINER_EXITED  # the whole pod is there
    env.stop(b, timeout=0)
    ev = evs.wait(b, pb.CONTAINER_STOPPED_EVENT)
    assert status_of(ev, b).exit_code == 137
    assert_matches_rpcs(env, ev, sid)

    env.remove(a)
    ev = evs.wait(a, pb.CONTAINER_DELETED_EVENT)
    assert status_of(ev, a) is None and status_of(ev, b) is not None
    env.remove(b)
    ev = evs.wait(b, pb.CONTAINER_DELETED_EVENT)
    assert list(ev.containers_statuses) == []

    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    ev = evs.wait(sid, pb.CONTAINER_STOPPED_EVENT)
    assert ev.pod_sandbox_status.state == pb.SANDBOX_NOTREADY
    assert_matches_rpcs(env, ev, sid)
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    ev = evs.wait(sid, pb.CONTAINER_DELETED_EVENT)
    # kubelet drops the pod from its cache on this one: the status must be there
    assert ev.pod_sandbox_status.id == sid
    assert ev.pod_sandbox_status.metadata.uid == pcfg.metadata.uid

    order = [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT,
             pb.CONTAINER_STOPPED_EVENT, pb.CONTAINER_DELETED_EVENT]
    for cid in (sid, a, b):
        assert evs.types_of(cid) == order, cid
    all_events = evs.snapshot()
    assert len(all_events) == 12
    stamps = [ev.created_at for ev in all_events]
    assert stamps == sorted(stamps) and stamps[0] > 0
    for ev in all_events:
        assert ev.pod_sandbox_status.id == sid
        assert ev.pod_sandbox_status.metadata.name == pcfg.metadata.name
    assert evs.error is None
    evs.cancel()


def test_two_subscribers_get_every_event(env):
    pb = env.pb
    one, two = Events(env.d.client()), Events(env.d.client())
    pod = env.pod()
    sid = pod[0]
    cid = env.run(pod, "c", SLEEP)
    env.stop(cid, timeout=0)
    env.remove(cid)
    env.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sid))
    env.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sid))
    for evs in (one, two):
        evs.wait(sid, pb.CONTAINER_DELETED_EVENT)
    a, b = one.snapshot(), two.snapshot()
    assert len(a) == 8
    assert [e.SerializeToString(deterministic=True) for e in a] == \
        [e.SerializeToString(deterministic=True) for e in b]
    one.cancel()
    two.cancel()


def test_cancelled_streams_leave_berthd_serving(env):
    pb = env.pb
    d = env.d
    clients = [d.client() for _ in range(4)]
    streams = [Events(clients[i % 4]) for i in range(MAX_STREAMS)]
    # the limit: one more is refused, and says why
    extra = clients[0].stream("GetContainerEvents", timeout=30)
    with pytest.raises(grpc.RpcError) as ei:
        next(extra)
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ei.value.details() == f"too many container event streams (limit {MAX_STREAMS})"
    for s in streams:
        s.cancel()
    # every handler ended (its thread gone) and logged the cancellation
    poll(lambda: d.stderr().count("method=GetContainerEvents") >= MAX_STREAMS + 1, 30,
         "the cancelled streams to end")
    assert d.call("Version").runtime_name == "berth"
    # all slots are free again, and a later subscriber gets the events
    later = [Events(clients[i % 4]) for i in range(MAX_STREAMS)]
    sid = env.pod()[0]
    for s in later:
        s.wait(sid, pb.CONTAINER_STARTED_EVENT)
        assert s.types_of(sid) == [pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT]
    for s in later:
        s.cancel()
    assert d.running()


def test_sigterm_with_open_stream_stops_in_time(berthd):
    evs = Events(berthd.client())
    rc, took = berthd.stop(timeout=5)
    assert rc == 0
    assert took < 2
    evs.thread.join(10)
    assert not evs.thread.is_alive()
    assert evs.error is not None
    assert evs.error.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert evs.snapshot() == []
