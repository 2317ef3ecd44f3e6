"""Activation maximisation (report 003): what the conv layers of a trained network respond to.

    python -m analysis.visualize results/mobilenet_cifar10            # the best trial's weights
    python -m analysis.visualize results/x/trial_ab12/checkpoint_000009 --layers conv_pw_12 conv_pw_13

For each chosen conv layer (default: the last two, nested backbones included) and each starting
image (random noise, a sinusoidal pattern, a natural image: --image, default scikit-learn's bundled
flower photo), gradient ascent on the input image (learning rate 10, 50 steps, the gradient
L2-normalised as in Chollet's "Visualizing what convnets learn", which 003 followed) maximises
the mean activation of the whole layer and, one picture each, of its first --filters filters. One
PNG grid per layer: a row per starting image, columns start / whole layer / filter 0..k-1. Written
to <experiment>/report/activations/ (or --out). The checkpoint's best weights are used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")


# --- finding the checkpoint and its model -----------------------------------------------------

def resolve(target: Path) -> tuple[Path, dict, Path]:
    """(checkpoint folder, trial config, experiment folder) for an experiment (its best trial's
    latest checkpoint) or a checkpoint folder (its trial's config)."""
    target = Path(target)
    if (target / "search.json").is_file():
        from analysis.results import best_trial, load
        best = best_trial(load(target).trials)
        if best is None or not best["checkpoint"]:
            raise FileNotFoundError(f"{target} has no trial with a checkpoint to visualise")
        return Path(best["checkpoint"]), best["config"], target
    if (target / "best.npz").is_file() and (target.parent / "params.json").is_file():
        config = json.loads((target.parent / "params.json").read_text())
        return target, config, target.parent.parent
    raise FileNotFoundError(f"{target} is neither an experiment folder (search.json) nor a "
                            f"checkpoint folder (best.npz, with params.json beside it)")


def input_shape_for(experiment: Path, config: dict, size: int | None) -> tuple:
    """The model's input: --size, else the model's native input, else its dataset's shape."""
    from trainables import datasets, models
    try:
        search = json.loads((experiment / "search.json").read_text())
        shape = datasets.shape(search["dataset"], search.get("image_size"))
    except (OSError, ValueError, KeyError):
        shape = (224, 224, 3)
    shape = models.input_shape(config["model"], shape)
    if size:
        shape = (size, size, shape[-1])
    return tuple(shape)


def load_model(checkpoint: Path, config: dict, input_shape):
    """The trial's model with the checkpoint's best weights (classes read off the last bias)."""
    from trainables import models
    from trainables.train import load_weights
    weights = load_weights(checkpoint / "best.npz")
    model = models.build({**config, "weights": "none"}, input_shape, int(weights[-1].shape[0]))
    model.set_weights(weights)
    return model


# --- layers -----------------------------------------------------------------------------------

def conv_layers(model, prefix: str = "") -> list[tuple[str, object, list]]:
    """Every conv layer in call order, nested models included: (path, layer, chain of models
    from the outer one down to the layer's own)."""
    import keras
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += [(p, l, [model] + chain) for p, l, chain in
                      conv_layers(layer, f"{prefix}{layer.name}/")]
        elif type(layer).__name__ in CONV_TYPES:
            found.append((f"{prefix}{layer.name}", layer, [model]))
    return found


def activation_fn(model, chain: list, layer):
    """x (model input) -> the layer's output, through nested models: the outer model's layers up to
    the nested model, then the nested model's own up to the layer."""
    import keras
    if len(chain) == 1:
        return keras.Model(model.inputs, layer.output)
    inner = chain[1]
    prefix = keras.Model(chain[0].inputs, fed_to(chain[0], inner))
    rest = activation_fn(inner, chain[1:], layer)
    return lambda x: rest(prefix(x))


def fed_to(outer, inner):
    """The tensor of `outer`'s graph that `outer` passes to its nested model `inner`. Keras's
    saving format (the model's config) names the layer whose output each call takes; the nested
    model and that layer are each called once in a model of the suite."""
    entry = next(e for e in outer.get_config()["layers"] if e["name"] == inner.name)
    calls = entry["inbound_nodes"]
    source, node, index = calls[0]["args"][0]["config"]["keras_history"]
    if len(calls) != 1 or node != 0:
        raise ValueError(f"{inner.name} or the layer {source} that feeds it is called more than "
                         f"once in {outer.name}: its input is ambiguous")
    output = outer.get_layer(source).output
    return output[index] if isinstance(output, (list, tuple)) else output


# --- the pictures -----------------------------------------------------------------------------

def starting_images(shape, image: Path | None, seed: int = 0) -> dict[str, np.ndarray]:
    """The three starts of 003, in [0, 1] at the model's input size: noise, sinusoid, a photo."""
    import tensorflow as tf
    height, width, channels = shape
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.4, 0.6, (height, width, channels))
    yy, xx = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    waves = [np.sin(2 * np.pi * (3 * xx + 2 * yy)), np.sin(2 * np.pi * (5 * yy - xx)),
             np.sin(2 * np.pi * 4 * (xx + yy))]
    sine = 0.5 + 0.25 * np.stack(waves[:channels] if channels <= 3 else waves * channels, -1)
    if image is None:
        from sklearn.datasets import load_sample_image
        photo = load_sample_image("flower.jpg")
    else:
        from PIL import Image
        photo = np.asarray(Image.open(image).convert("RGB"))
    photo = tf.image.resize(photo.astype(np.float32) / 255.0, (height, width), antialias=True)
    photo = photo.numpy()
    if channels == 1:
        photo = photo.mean(-1, keepdims=True)
    return {"noise": noise.astype(np.float32), "sinusoid": sine[..., :channels].astype(np.float32),
            "image": np.clip(photo, 0, 1).astype(np.float32)}


def ascend(fn, start: np.ndarray, filter_index: int | None, steps: int = 50,
           learning_rate: float = 10.0) -> np.ndarray:
    """Gradient ascent on the image: maximise the mean activation of the layer (filter_index None)
    or of one filter, borders excluded where the map is large enough (as Chollet's example)."""
    import tensorflow as tf
    image = tf.Variable(start[None])

    def loss():
        act = fn(image)
        if act.shape[1] is not None and act.shape[1] > 4 and act.shape[2] > 4:
            act = act[:, 2:-2, 2:-2, :]
        return tf.reduce_mean(act if filter_index is None else act[..., filter_index])

    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = loss()
        grads = tape.gradient(value, image)
        if grads is None:
            break
        image.assign_add(learning_rate * tf.math.l2_normalize(grads))
    return image.numpy()[0]


def deprocess(image: np.ndarray) -> np.ndarray:
    """Chollet's display: standardise, 0.15 std around 0.5, clip to [0, 1]."""
    image = image - image.mean()
    image = image / (image.std() + 1e-5) * 0.15 + 0.5
    return np.clip(image, 0, 1)


def draw(model, layers: list[str] | None, out: Path, image: Path | None = None,
         filters: int = 4, steps: int = 50, learning_rate: float = 10.0) -> list[Path]:
    """One PNG grid per chosen conv layer (default the last two); returns the files written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = conv_layers(model)
    if not found:
        raise ValueError(f"{model.name} has no conv layer to visualise (a head on cached "
                         f"features?)")
    by_name = {path: (path, layer, chain) for path, layer, chain in found}
    by_name.update({layer.name: (path, layer, chain) for path, layer, chain in found})
    if layers:
        unknown = [name for name in layers if name not in by_name]
        if unknown:
            raise ValueError(f"no conv layer {unknown[0]!r}; the last ones are: "
                             + ", ".join(p for p, _, _ in found[-6:]))
        chosen = [by_name[name] for name in layers]
    else:
        chosen = found[-2:]
    starts = starting_images(tuple(model.input_shape[1:]), image)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path, layer, chain in chosen:
        fn = activation_fn(model, chain, layer)
        channels = int(layer.output.shape[-1])
        columns = [None] + list(range(min(filters, channels)))
        fig, axes = plt.subplots(len(starts), len(columns) + 1, squeeze=False,
                                 figsize=(1.8 * (len(columns) + 1), 1.9 * len(starts)))
        for row, (start_name, start) in enumerate(starts.items()):
            axes[row][0].imshow(start.squeeze(), cmap="gray" if start.shape[-1] == 1 else None)
            axes[row][0].set_title(start_name, fontsize=8)
            for col, f in enumerate(columns, 1):
                result = deprocess(ascend(fn, start, f, steps, learning_rate))
                axes[row][col].imshow(result.squeeze(),
                                      cmap="gray" if result.shape[-1] == 1 else None)
                axes[row][col].set_title("whole layer" if f is None else f"filter {f}",
                                         fontsize=8)
        for ax in (a for r in axes for a in r):
            ax.axis("off")
        fig.suptitle(f"{path}: gradient ascent, lr {learning_rate:g}, {steps} steps", fontsize=9)
        fig.tight_layout()
        file = out / f"{path.replace('/', '__')}.png"
        fig.savefig(file, dpi=100)
        plt.close(fig)
        written.append(file)
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.visualize", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="an experiment folder (its best trial) or a checkpoint folder")
    p.add_argument("--layers", nargs="+", help="conv layer names (default: the last two)")
    p.add_argument("--image", type=Path, help="the natural starting image (default: a flower)")
    p.add_argument("--filters", type=int, default=4, help="single filters drawn per layer")
    p.add_argument("--steps", type=int, default=50, help="gradient-ascent steps")
    p.add_argument("--learning-rate", type=float, default=10.0, help="gradient-ascent step size")
    p.add_argument("--size", type=int, help="input side (default: the model's / dataset's)")
    p.add_argument("--out", type=Path, help="folder for the PNGs (default: "
                                            "<experiment>/report/activations)")
    args = p.parse_args(argv)
    try:
        if args.image is not None and not args.image.is_file():
            raise FileNotFoundError(f"--image {args.image}: no such file")
        checkpoint, config, experiment = resolve(Path(args.target))
        model = load_model(checkpoint, config, input_shape_for(experiment, config, args.size))
        out = args.out or experiment / "report" / "activations"
        files = draw(model, args.layers, out, args.image, args.filters, args.steps,
                     args.learning_rate)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for file in files:
        print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
