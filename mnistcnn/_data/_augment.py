"""Random distortions of a whole batch at once: rotation, scale, shift and elastic warping.

One affine grid plus one smooth random displacement field per image, applied with a single
``grid_sample`` call on the batch: no per-image Python work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import paddle


@dataclass(frozen=True)
class Augmentation:
    """How much to distort each training image (uniform in ``[-x, x]``).

    Attributes:
        rotation: degrees.
        scale: relative size change (0.1 means 90% to 110%).
        shift: pixels, horizontally and vertically.
        elastic: largest elastic displacement, pixels (a smooth random field).
    """

    rotation: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    elastic: float = 0.0

    def apply(self, batch: paddle.Tensor, rng: np.random.Generator) -> paddle.Tensor:
        """Distort a float32 batch of shape (n, 1, H, W); returns a new batch of the same shape."""
        import paddle  # here, not above: the settings are part of a model's metadata
        from paddle.nn import functional

        n, _, height, width = batch.shape
        angle = np.deg2rad(rng.uniform(-self.rotation, self.rotation, n))
        zoom = 1.0 + rng.uniform(-self.scale, self.scale, n)
        shift = rng.uniform(-self.shift, self.shift, (2, n)) * 2.0 / np.array([[width], [height]])
        cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
        theta = np.stack(
            [np.stack([cos, -sin, shift[0]], axis=1), np.stack([sin, cos, shift[1]], axis=1)],
            axis=1,
        ).astype(np.float32)
        grid = functional.affine_grid(
            paddle.to_tensor(theta), [n, 1, height, width], align_corners=False
        )
        if self.elastic > 0:
            # A coarse 4x4 random field, upsampled bilinearly: a smooth displacement.
            coarse = rng.uniform(-1.0, 1.0, (n, 2, 4, 4)).astype(np.float32)
            field = functional.interpolate(
                paddle.to_tensor(coarse), size=[height, width], mode="bilinear", align_corners=True
            )
            field = field * (self.elastic * 2.0 / width)
            grid = grid + field.transpose([0, 2, 3, 1])
        return functional.grid_sample(
            batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )

    @property
    def active(self) -> bool:
        return any((self.rotation, self.scale, self.shift, self.elastic))
