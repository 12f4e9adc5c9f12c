"""A run at another image scale: images built at that scale into its own cache, pushed, pulled by a
node at their scaled size, and the node's storage scaled the same way."""

from __future__ import annotations

from strata.v1 import agent_pb2, agent_pb2_grpc

from harness.stack import Stack, port_addresses
from images import IMAGE_SCALE, scaled_bytes
from images.build import build_images, default_cache, find_image
from topologies.catalog import load_topology

SCALE = 5 * IMAGE_SCALE
IMAGE = "busybox"  # about 2 MiB real: 0.1 MiB here


def test_a_stack_at_another_scale_pulls_images_of_that_size():
    at_default = build_images(names=None, progress=lambda *_: None)  # the default cache, for comparison
    spec = load_topology("edge-tiered")
    server = spec.hosts_with_role("edge-server")[0]
    with Stack(spec, openflow_port=6691, addresses=port_addresses(20900), images=[IMAGE], image_scale=SCALE,
               log=lambda *_: None) as stack:
        scaled = find_image(IMAGE, default_cache(SCALE))
        small = find_image(IMAGE, at_default.cache)
        assert scaled is not None and small is not None
        assert scaled.size_bytes > 4 * small.size_bytes  # five times the default scale, give or take tar blocks
        node = agent_pb2_grpc.NodeAgentStub(stack.agent_channel(server.name))
        pull = node.PullImage(agent_pb2.PullImageRequest(image=IMAGE), timeout=120).pull
        assert pull.pulled_bytes == scaled.size_bytes
        status = node.GetNode(agent_pb2.GetNodeRequest(), timeout=10)
        assert status.image_scale == SCALE
        assert status.storage_capacity_bytes == scaled_bytes(server.storage_mib, SCALE)
