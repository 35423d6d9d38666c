import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from skimage.transform import resize  # noqa: E402

from tutorial_lib.activations import mean_activation_map  # noqa: E402
from tutorial_lib.plots import overlay_activation_map  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def minmax(a: np.ndarray) -> np.ndarray:
    return (a - a.min()) / (a.max() - a.min())


def test_channel_mean_without_resizing_matches_numpy():
    torch.manual_seed(0)
    acts = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    got = mean_activation_map(acts)
    assert got.shape == (2, 4, 6)
    for i in range(2):
        np.testing.assert_allclose(got[i].numpy(), minmax(acts[i].numpy().mean(axis=0)))


def test_upsampling_matches_scikit_image_bilinear_resize():
    torch.manual_seed(0)
    acts = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    got = mean_activation_map(acts, size=(12, 15), normalize=False)
    # skimage's order-1 resize with edge mode uses the same pixel-centre convention
    # as F.interpolate(mode="bilinear", align_corners=False) when upsampling.
    reference = resize(
        acts[0].numpy().mean(axis=0), (12, 15), order=1, mode="edge", anti_aliasing=False
    )
    np.testing.assert_allclose(got[0].numpy(), reference, atol=1e-12)


def test_mean_and_upsampling_commute():
    torch.manual_seed(0)
    acts = torch.randn(3, 4, 5, 5, dtype=torch.float64)
    got = mean_activation_map(acts, size=20, normalize=False)
    other_order = F.interpolate(acts, size=(20, 20), mode="bilinear").mean(dim=1)
    torch.testing.assert_close(got, other_order)


def test_normalised_maps_span_zero_to_one_and_constant_maps_are_zero():
    acts = torch.randn(2, 3, 6, 6)
    acts[1] = 7.0  # a constant map (e.g. a dead layer)
    maps = mean_activation_map(acts, size=(24, 24))
    assert maps[0].min().item() == pytest.approx(0.0) and maps[0].max().item() == 1.0
    assert torch.count_nonzero(maps[1]) == 0


def test_detached_and_input_unchanged():
    acts = torch.randn(1, 2, 3, 3, requires_grad=True)
    before = acts.detach().clone()
    maps = mean_activation_map(acts, size=6)
    assert not maps.requires_grad
    torch.testing.assert_close(acts.detach(), before)


@pytest.mark.parametrize(
    ("acts", "kwargs", "error", "match"),
    [
        (torch.zeros(3, 4, 4), {}, ValueError, r"\.unsqueeze\(0\)"),
        (torch.zeros(1, 3, 4, 4, dtype=torch.long), {}, TypeError, "floating point"),
        (np.zeros((1, 3, 4, 4)), {}, TypeError, "must be a torch.Tensor"),
        (torch.zeros(1, 3, 4, 4), {"size": 0}, ValueError, "positive"),
        (torch.zeros(1, 3, 4, 4), {"size": (4, 4, 4)}, TypeError, "pair"),
        (torch.zeros(1, 3, 4, 4), {"size": (4.0, 4)}, TypeError, "two ints"),
        (torch.zeros(1, 3, 4, 4), {"size": True}, TypeError, "bool"),
    ],
)
def test_mean_activation_map_bad_input(acts, kwargs, error, match):
    with pytest.raises(error, match=match):
        mean_activation_map(acts, **kwargs)


@pytest.mark.parametrize(
    "image",
    [
        torch.rand(3, 8, 10),  # (C, H, W) tensor
        np.random.default_rng(0).random((8, 10, 3)),  # (H, W, C) array
        torch.rand(1, 8, 10),  # grey with a channel dimension
        np.zeros((8, 10)),  # grey
    ],
)
def test_overlay_draws_image_then_map(image):
    heat = torch.rand(8, 10)
    ax = overlay_activation_map(image, heat, alpha=0.3, title="layer1")
    shown = ax.get_images()
    assert len(shown) == 2
    np.testing.assert_allclose(np.asarray(shown[1].get_array()), heat.numpy())
    assert shown[1].get_alpha() == 0.3 and shown[1].get_clim() == (0.0, 1.0)
    assert np.asarray(shown[0].get_array()).shape[:2] == (8, 10)
    assert ax.get_title() == "layer1" and ax.get_xticks().size == 0


def test_overlay_uses_the_given_axes():
    _, ax = plt.subplots()
    assert overlay_activation_map(np.zeros((4, 4)), np.zeros((4, 4)), ax=ax) is ax


@pytest.mark.parametrize(
    ("image", "heat", "kwargs", "error", "match"),
    [
        (np.zeros((4, 4)), np.zeros((2, 2)), {}, ValueError, "upsample the map"),
        (np.zeros((4, 4)), np.zeros((1, 4, 4)), {}, ValueError, r"maps\[0\]"),
        (np.full((4, 4), 255.0), np.zeros((4, 4)), {}, ValueError, r"\[0, 1\]"),
        (np.zeros((4, 4, 2)), np.zeros((4, 4)), {}, ValueError, "1 or 3 channels"),
        (np.zeros((4, 4)), np.zeros((4, 4)), {"alpha": 2.0}, ValueError, "alpha"),
        ([[0.0]], np.zeros((1, 1)), {}, TypeError, "image must be a tensor"),
    ],
)
def test_overlay_bad_input(image, heat, kwargs, error, match):
    with pytest.raises(error, match=match):
        overlay_activation_map(image, heat, **kwargs)


def test_overlay_does_not_change_global_style():
    before = dict(matplotlib.rcParams)
    overlay_activation_map(np.zeros((4, 4)), np.zeros((4, 4)))
    assert dict(matplotlib.rcParams) == before
