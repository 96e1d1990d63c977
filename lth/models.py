"""Model registry. Layer names and kernel shapes are static so plans (density ladders, config checks)
need no TensorFlow; `build()` makes the tf_keras model."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

OUTPUT_LAYER = "out"  # every built-in model names its output layer so; the paper prunes it at its own rate
DEFAULT_INPUT = ((28, 28, 1), 10)  # what the built-in networks' own names (and measured costs) stand for


@dataclass(frozen=True)
class CpuCost:
    """What training the model costs on the 2-core CPU the time estimates are for (lth.presets; `make bench`)."""

    train_us: float  # per training sample
    eval_us: float  # per evaluated image
    eval_call_s: float  # per evaluation, besides its images


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    kernel_shapes: dict[str, tuple[int, ...]]  # weight layers in order: name -> kernel shape
    default_prunable: tuple[str, ...]
    initializer: str  # Keras initializer class for kernels
    build_layers: Callable | None  # (keras, kernel_initializer_for(name)) -> list of layers; None: a user's builder
    cpu: CpuCost
    input_shape: tuple[int, ...] = (28, 28, 1)  # of one example (HxWxC): what the model is built for
    # the rate its convolutional layers are pruned at per round where the run gives none (Frankle & Carbin's
    # per-network rate); None: the run's --prune-rate, as for every layer that is not the output
    conv_prune_rate: float | None = None
    # XLA compiles the training loop (about 2x faster on a CPU); TensorFlow has no deterministic XLA
    # gradient for max-pooling, so models with pooling train in plain graphs.
    xla: bool = True
    # output positions each kernel is applied at per image (conv layers: the output's height x width),
    # what multiply-accumulate counts need; 1 for Dense layers
    positions: dict[str, int] | None = None
    classes: int = 10
    # a user's network (lth.builders): every array of `model.get_weights()` in order (kernels, biases, carried
    # layers' weights) and where each prunable kernel is in it; None: kernel and bias per layer
    weights: tuple[tuple[int, ...], ...] | None = None
    kernel_index: dict[str, int] | None = None
    builder: str | None = None  # "file.py:function" or "module:function" of a user's network
    make: Callable | None = None  # (spec, seed) -> model: how a user's network is built (lth.builders.build)
    architecture: str | None = None  # a user's network: the hash of its description (lth.builders)
    output_layer: str = OUTPUT_LAYER  # pruned at --output-prune-rate

    def kernels(self, weights: list) -> dict:
        """Each layer's kernel out of `model.get_weights()`."""
        if self.kernel_index is not None:
            return {name: weights[self.kernel_index[name]] for name in self.layer_names}
        return {name: weights[2 * i] for i, name in enumerate(self.layer_names)}

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of `model.get_weights()`, in order."""
        if self.weights is not None:
            return [tuple(shape) for shape in self.weights]
        return [s for shape in self.kernel_shapes.values() for s in (tuple(shape), (shape[-1],))]

    def dense_macs(self) -> int:
        """Multiply-accumulates per example of the prunable layers, dense (a conv kernel at each output position)."""
        return sum(math.prod(shape) * (self.positions or {}).get(n, 1) for n, shape in self.kernel_shapes.items())

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.kernel_shapes)

    def is_conv(self, layer: str) -> bool:
        """Whether `layer` is a convolution (a kernel of 3 or more axes: Conv1D, Conv2D), pruned at the conv
        rate; Dense kernels have 2."""
        return len(self.kernel_shapes[layer]) >= 3


def _lenet300_100_layers(keras, init, classes=10):
    return [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(300, activation="relu", kernel_initializer=init("fc1"), name="fc1"),
        keras.layers.Dense(100, activation="relu", kernel_initializer=init("fc2"), name="fc2"),
        keras.layers.Dense(classes, kernel_initializer=init("out"), name="out"),
    ]


def _lenet5_layers(keras, init, classes=10):
    return [
        keras.layers.Conv2D(6, 5, padding="same", activation="relu", kernel_initializer=init("conv1"), name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(16, 5, padding="valid", activation="relu", kernel_initializer=init("conv2"), name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(120, activation="relu", kernel_initializer=init("fc1"), name="fc1"),
        keras.layers.Dense(84, activation="relu", kernel_initializer=init("fc2"), name="fc2"),
        keras.layers.Dense(classes, kernel_initializer=init("out"), name="out"),
    ]


def _conv_net(
    name: str,
    filters: tuple[int, ...],
    conv_rate: float,
    cpu: CpuCost,
    input_shape: tuple[int, ...] = (28, 28, 1),
    classes: int = 10,
) -> ModelSpec:
    """Frankle & Carbin's Conv-2/4/6 (their Figure 2): pairs of 3x3 'same' convolutions of `filters` each, a
    2x2 max-pooling after each pair, then Dense 256-256-`classes`; Glorot-normal initialisation. Kernel shapes,
    output positions and the flattened width follow from `input_shape` and `classes`."""
    shapes: dict[str, tuple[int, ...]] = {}
    positions: dict[str, int] = {}
    height, width, channels = input_shape
    for pair, count in enumerate(filters):
        for half in (1, 2):
            layer = f"conv{2 * pair + half}"
            shapes[layer] = (3, 3, channels, count)
            positions[layer] = height * width  # 'same': one output per input position
            channels = count
        height, width = height // 2, width // 2
    shapes.update(fc1=(height * width * channels, 256), fc2=(256, 256), out=(256, classes))

    def build_layers(keras, init):
        layers = []
        for pair, count in enumerate(filters):
            for half in (1, 2):
                layer = f"conv{2 * pair + half}"
                layers.append(
                    keras.layers.Conv2D(
                        count, 3, padding="same", activation="relu", kernel_initializer=init(layer), name=layer
                    )
                )
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{pair + 1}"))
        return layers + [
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init("fc1"), name="fc1"),
            keras.layers.Dense(256, activation="relu", kernel_initializer=init("fc2"), name="fc2"),
            keras.layers.Dense(classes, kernel_initializer=init("out"), name="out"),
        ]

    return ModelSpec(
        name=name,
        description=f"Frankle & Carbin's {name.replace('conv', 'Conv-')}: "
        f"{'-'.join(f'{f}x2' for f in filters)} 3x3 conv pairs, each pooled, then 256-256-"
        f"{classes}; Glorot-normal init",
        kernel_shapes=shapes,
        default_prunable=tuple(shapes),
        initializer="GlorotNormal",
        build_layers=build_layers,
        cpu=cpu,
        input_shape=tuple(input_shape),
        conv_prune_rate=conv_rate,
        xla=False,
        positions={**positions, "fc1": 1, "fc2": 1, "out": 1},
    )


MODELS: dict[str, ModelSpec] = {
    "lenet300_100": ModelSpec(
        name="lenet300_100",
        description="784-300-100-10 ReLU MLP, Glorot-normal init (Frankle & Carbin's LeNet-300-100)",
        kernel_shapes={"fc1": (784, 300), "fc2": (300, 100), "out": (100, 10)},
        default_prunable=("fc1", "fc2", "out"),
        initializer="GlorotNormal",
        build_layers=_lenet300_100_layers,
        # re-measured on the Intel Xeon 2-core machine before the pruning-methods preset ran (one dense training
        # of 10,000 iterations on Fashion-MNIST: 7.38 s evaluating once, 9.64 s evaluating every 100, so 12.3 us
        # per sample and 0.023 s per evaluation of 5,000 images); the AMD EPYC machine took 19.0 and 5.8 + 0.025 s
        cpu=CpuCost(train_us=12.3, eval_us=3.0, eval_call_s=0.008),
    ),
    "lenet5": ModelSpec(
        name="lenet5",
        description="LeNet-5 conv net of the original study (6@5x5, 16@5x5, 120, 84, 10), Glorot-uniform init",
        kernel_shapes={
            "conv1": (5, 5, 1, 6),
            "conv2": (5, 5, 6, 16),
            "fc1": (400, 120),
            "fc2": (120, 84),
            "out": (84, 10),
        },
        default_prunable=("fc1", "fc2"),  # the original study pruned only the two hidden Dense layers
        initializer="GlorotUniform",
        build_layers=_lenet5_layers,
        # measured on the Intel machine the converged preset ran on (`make bench`: 27.5 us per sample at batch
        # 600, 15 us per evaluated image); the AMD EPYC machine before it took 293 and 122
        cpu=CpuCost(train_us=27.5, eval_us=15.0, eval_call_s=0.025),
        xla=False,
        positions={"conv1": 28 * 28, "conv2": 10 * 10},  # 'same' on 28x28 inputs, then 'valid' on 14x14
    ),
    # the paper's conv rates: 10% per round for Conv-2 and Conv-4, 15% for Conv-6 (fully connected 20%, output 10%);
    # CPU costs measured on this 2-core machine with nothing else running (the product's loop, 100 steps at
    # batch 60 after compiling, and one evaluation of the sample's 500 validation images): 1.21, 2.12 and 3.08 ms
    # per training sample, 0.30, 0.62 and 0.89 ms per evaluated image
    "conv2": _conv_net("conv2", (64,), 0.10, CpuCost(train_us=1211.0, eval_us=298.0, eval_call_s=0.02)),
    "conv4": _conv_net("conv4", (64, 128), 0.10, CpuCost(train_us=2118.0, eval_us=620.0, eval_call_s=0.02)),
    "conv6": _conv_net("conv6", (64, 128, 256), 0.15, CpuCost(train_us=3076.0, eval_us=889.0, eval_call_s=0.02)),
}


BUILDER_REFERENCE = re.compile(r"(?P<module>[^:\x00]{1,400}):(?P<function>[A-Za-z_][A-Za-z0-9_]{0,99})")
_REGISTERED: dict[str, ModelSpec] = {}  # specs of this process beyond MODELS: other input shapes, users' networks


def is_builder(name: str) -> bool:
    """Whether `name` names a user's network builder ("file.py:function" or "module:function")."""
    return name not in MODELS and BUILDER_REFERENCE.fullmatch(name) is not None


def sized(name: str, input_shape: tuple[int, ...], classes: int) -> ModelSpec:
    """Built-in network `name` for examples of `input_shape` and `classes` classes: kernel shapes and output
    positions follow from them; the CPU costs measured at 28x28x1 scale with the multiply-accumulates."""
    base = get_spec(name)
    input_shape, classes = tuple(int(d) for d in input_shape), int(classes)
    if (input_shape, classes) == DEFAULT_INPUT:
        return base
    key = spec_key(name, input_shape, classes)
    if key in _REGISTERED:
        return _REGISTERED[key]
    if name == "lenet300_100":
        shapes: dict[str, tuple[int, ...]] = {
            "fc1": (math.prod(input_shape), 300),
            "fc2": (300, 100),
            "out": (100, classes),
        }
        spec = replace(
            base,
            kernel_shapes=shapes,
            build_layers=lambda keras, init: _lenet300_100_layers(keras, init, classes),
            positions=None,
        )
    elif len(input_shape) != 3:
        raise ValueError(f"{name} is a 2-D conv net: it needs image examples HxWxC, not {_shape(input_shape)}")
    elif name == "lenet5":
        height, width, channels = input_shape
        after = ((height // 2 - 4) // 2, (width // 2 - 4) // 2)
        if min(after) < 1:
            raise ValueError(f"lenet5 needs images of at least 12x12, not {_shape(input_shape)}")
        spec = replace(
            base,
            kernel_shapes={
                "conv1": (5, 5, channels, 6),
                "conv2": (5, 5, 6, 16),
                "fc1": (after[0] * after[1] * 16, 120),
                "fc2": (120, 84),
                "out": (84, classes),
            },
            build_layers=lambda keras, init: _lenet5_layers(keras, init, classes),
            positions={"conv1": height * width, "conv2": (height // 2 - 4) * (width // 2 - 4)},
        )
    else:
        halvings = len(base.kernel_shapes) // 2 - 1  # one pooling per conv pair
        if min(input_shape[:2]) < 2**halvings:
            raise ValueError(f"{name} pools {halvings} times: it needs images of at least {2**halvings}x{2**halvings}")
        filters = tuple(base.kernel_shapes[f"conv{2 * i + 2}"][-1] for i in range(halvings))
        spec = _conv_net(name, filters, base.conv_prune_rate or 0.1, base.cpu, input_shape, classes)
    scale = spec.dense_macs() / base.dense_macs()
    spec = replace(
        spec,
        input_shape=input_shape,
        classes=classes,
        cpu=CpuCost(base.cpu.train_us * scale, base.cpu.eval_us * scale, base.cpu.eval_call_s),
    )
    _REGISTERED[key] = spec
    return spec


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalars"


def spec_key(name: str, input_shape: tuple[int, ...], classes: int, architecture: str | None = None) -> str:
    """The one string a run's network spec is found by in this process (`get_spec`): a built-in name at its
    own input, else the name with the input shape and classes, and a user's network's architecture hash."""
    if architecture is not None:
        return f"{name}@{architecture}"
    if (tuple(input_shape), classes) == DEFAULT_INPUT and name in MODELS:
        return name
    return f"{name}@{_shape(input_shape)}-{classes}"


def register(spec: ModelSpec, key: str) -> None:
    _REGISTERED[key] = spec


def get_spec(name: str) -> ModelSpec:
    """A network's spec by its name or spec key (`spec_key`)."""
    if name in MODELS:
        return MODELS[name]
    if name in _REGISTERED:
        return _REGISTERED[name]
    base, _, size = name.partition("@")
    match = re.fullmatch(r"([0-9x]+|scalars)-([0-9]+)", size)
    if base in MODELS and match:
        shape = () if match[1] == "scalars" else tuple(int(d) for d in match[1].split("x"))
        return sized(base, shape, int(match[2]))
    if is_builder(base):
        raise ValueError(f"network {base} is not described in this process (lth.builders.describe)")
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)} or a builder file.py:function")


def architecture_hash(identity: dict) -> str:
    """The hash that names a network's architecture: of its description's identity part (lth.builders)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def build(name: str, seed: int):
    """A fresh tf_keras model for spec key `name` whose initial weights depend only on it and `seed`."""
    from lth.tf_setup import keras

    spec = get_spec(name)
    if spec.make is not None:
        return spec.make(spec, seed)
    assert spec.build_layers is not None  # a built-in network
    initializer = getattr(keras.initializers, spec.initializer)

    def init(layer_name: str):
        # A seed per layer: the same (model, seed) gives bit-identical weights in any process.
        return initializer(seed=seed * 1009 + spec.layer_names.index(layer_name))

    model = keras.Sequential(spec.build_layers(keras, init), name=spec.name)
    model.build((None, *spec.input_shape))
    return model
