"""Real OCI images built from the Docker Hub layer dataset, scaled so that pulls take seconds.

IMAGE_SCALE is the one scale factor of the emulation: a dataset layer of S bytes becomes a
layer blob of about S * IMAGE_SCALE bytes, and an edge server's storage capacity (MiB in the
topology and the placement model) becomes storage_mib * 2**20 * IMAGE_SCALE bytes on its node,
so what fits in the model fits on the node.
"""

IMAGE_SCALE = 0.01


def scaled_bytes(mib: float) -> int:
    """Bytes on the emulated node for a size in real MiB."""
    return int(round(mib * 2**20 * IMAGE_SCALE))
