"""Ray generation in the head frame and volume rendering (eq. 11-12)."""
from __future__ import annotations

import math

import pytest
import torch

from emohead.face.camera import default_camera, rotation_from_euler
from emohead.render.rays import PoseError, check_poses, head_rays, ray_box, sample_along_rays
from emohead.render.volume import composite, render_weights

BOX_MIN, BOX_MAX = torch.tensor([-1.5, -2.0, -1.5]), torch.tensor([1.5, 2.0, 1.5])


def test_weights_follow_eq_12_and_sum_to_at_most_one():
    g = torch.Generator().manual_seed(0)
    sigma = torch.rand(64, 16, generator=g) * 5
    s = torch.sort(torch.rand(64, 16, generator=g) * 4, dim=1).values
    far = torch.full((64,), 4.0)
    w = render_weights(sigma, s, far)
    assert (w >= 0).all() and (w.sum(1) <= 1 + 1e-6).all()
    # explicit loop over one ray
    r = 3
    trans, expected = 1.0, []
    for k in range(16):
        delta = (s[r, k + 1] - s[r, k]) if k < 15 else (far[r] - s[r, k])
        alpha = 1 - math.exp(-float(sigma[r, k]) * float(delta))
        expected.append(trans * alpha)
        trans *= 1 - alpha
    torch.testing.assert_close(w[r], torch.tensor(expected), atol=1e-5, rtol=1e-4)


def test_empty_field_shows_the_background_and_an_opaque_sample_its_colour():
    s = torch.linspace(1, 3, 8).expand(5, 8)
    far = torch.full((5,), 3.5)
    color = torch.rand(5, 8, 3, generator=torch.Generator().manual_seed(1))
    bg = torch.tensor([0.2, 0.4, 0.6])
    empty = composite(torch.zeros(5, 8), color, s, far, bg)
    torch.testing.assert_close(empty.rgb, bg.expand(5, 3))
    assert torch.all(empty.opacity == 0) and torch.allclose(empty.depth, far)
    sigma = torch.zeros(5, 8)
    sigma[:, 2] = 1e4
    solid = composite(sigma, color, s, far, bg)
    torch.testing.assert_close(solid.rgb, color[:, 2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(solid.depth, s[:, 2], atol=1e-4, rtol=1e-4)


def test_ray_box_slab_test():
    o = torch.tensor([[0.0, 0.0, 10.0], [0.0, 0.0, 10.0], [0.0, 0.0, 0.0]])
    d = torch.tensor([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    near, far, hit = ray_box(o, d, BOX_MIN, BOX_MAX)
    assert hit.tolist() == [True, False, True]
    assert near[0] == pytest.approx(8.5) and far[0] == pytest.approx(11.5)
    assert near[2] == 0 and far[2] == pytest.approx(1.5)            # a camera inside the box


def test_head_rays_are_the_world_rays_in_the_head_frame():
    cam = default_camera(32)
    R = torch.from_numpy(rotation_from_euler(20.0, -10.0, 5.0)).float()
    t = torch.tensor([0.3, -0.2, 0.5])
    rays = head_rays(cam, R, t, 32, 32, BOX_MIN, BOX_MAX)
    assert rays.origins.shape == (32 * 32, 3) and rays.hit.any() and not rays.hit.all()
    o, d = cam.pixel_rays(32, 32)
    o, d = o.reshape(-1, 3), d.reshape(-1, 3)
    s = 9.0
    p_model = rays.origins + s * rays.directions
    torch.testing.assert_close(p_model @ R.T + t, o + s * d, atol=1e-4, rtol=1e-4)   # x_world = R x_model + t
    depths = sample_along_rays(rays.near[rays.hit], rays.far[rays.hit], 12, stratified=True,
                               generator=torch.Generator().manual_seed(0))
    assert (depths >= rays.near[rays.hit, None] - 1e-5).all() and (depths <= rays.far[rays.hit, None] + 1e-5).all()
    assert (depths[:, 1:] >= depths[:, :-1]).all()


@pytest.mark.parametrize("R, t, problem", [
    (torch.full((3, 3), float("nan")), torch.zeros(3), "NaN"),
    (torch.eye(3), torch.tensor([0.0, float("nan"), 0.0]), "NaN"),
    (2 * torch.eye(3), torch.zeros(3), "not a rotation"),
    (torch.eye(4), torch.zeros(3), r"\[3, 3\]"),
])
def test_bad_poses_are_rejected(R, t, problem):
    with pytest.raises(PoseError, match=problem):
        head_rays(default_camera(8), R, t, 8, 8, BOX_MIN, BOX_MAX)


def test_a_batch_of_poses_names_its_bad_frame():
    R = torch.eye(3).repeat(4, 1, 1)
    t = torch.zeros(4, 3)
    check_poses(R, t)                                          # all fine: no error
    R[2, 1, 1] = float("nan")
    with pytest.raises(PoseError, match="render pose 2: .*NaN"):
        check_poses(R, t, where="render pose")
    R[2] = torch.eye(3)
    R[3] *= 1.5
    with pytest.raises(PoseError, match="pose 3: .*not a rotation"):
        check_poses(R, t)
    with pytest.raises(PoseError, match=r"\[B, 3, 3\]"):
        check_poses(R[0], t[0])
