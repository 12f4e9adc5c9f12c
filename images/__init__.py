"""Real OCI images built from the Docker Hub layer dataset, scaled so that pulls take seconds.

The image scale is the one scale factor of the emulation: a dataset layer of S bytes becomes a
layer blob of about S * scale bytes, and an edge server's storage capacity (MiB in the topology
and the placement model) becomes storage_mib * 2**20 * scale bytes on its node, so what fits in
the model fits on the node. IMAGE_SCALE (0.01) is the default, what the tests and the demo use;
`--image-scale 1` gives the images their real sizes, so pulls take their real time on the
declared links (docs/images.md).
"""

import math

IMAGE_SCALE = 0.01


def checked_image_scale(value: float) -> float:
    """`value` if it is a scale a run can use (0 < value <= 1); ValueError saying why otherwise."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
            or not 0 < value <= 1:
        raise ValueError(f"image scale must be a number above 0 and at most 1 (1: real sizes), got {value!r}")
    return float(value)


def scaled_bytes(mib: float, scale: float = IMAGE_SCALE) -> int:
    """Bytes on the emulated node for a size in real MiB."""
    return int(round(mib * 2**20 * scale))
