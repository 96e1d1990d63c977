"""Model registry. Layer names and kernel shapes are static so plans (density ladders, config checks)
need no TensorFlow; `build()` makes the tf_keras model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

OUTPUT_LAYER = "out"  # every model names its output layer so; the paper prunes it at its own rate


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
    build_layers: Callable  # (keras, kernel_initializer_for(name)) -> list of layers
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

    def kernels(self, weights: list) -> dict:
        """Each layer's kernel out of `model.get_weights()` (kernel and bias per layer, in order)."""
        return {name: weights[2 * i] for i, name in enumerate(self.layer_names)}

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of `model.get_weights()`: kernel and bias of each layer, in order."""
        return [s for shape in self.kernel_shapes.values() for s in (tuple(shape), (shape[-1],))]

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.kernel_shapes)

    def is_conv(self, layer: str) -> bool:
        """Whether `layer` is a convolution (a kernel of 3 or more axes: Conv1D, Conv2D), pruned at the conv
        rate; Dense kernels have 2."""
        return len(self.kernel_shapes[layer]) >= 3


def _lenet300_100_layers(keras, init):
    return [
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(300, activation="relu", kernel_initializer=init("fc1"), name="fc1"),
        keras.layers.Dense(100, activation="relu", kernel_initializer=init("fc2"), name="fc2"),
        keras.layers.Dense(10, kernel_initializer=init("out"), name="out"),
    ]


def _lenet5_layers(keras, init):
    return [
        keras.layers.Conv2D(6, 5, padding="same", activation="relu", kernel_initializer=init("conv1"), name="conv1"),
        keras.layers.MaxPooling2D(2, name="pool1"),
        keras.layers.Conv2D(16, 5, padding="valid", activation="relu", kernel_initializer=init("conv2"), name="conv2"),
        keras.layers.MaxPooling2D(2, name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(120, activation="relu", kernel_initializer=init("fc1"), name="fc1"),
        keras.layers.Dense(84, activation="relu", kernel_initializer=init("fc2"), name="fc2"),
        keras.layers.Dense(10, kernel_initializer=init("out"), name="out"),
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


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def build(name: str, seed: int):
    """A fresh tf_keras model whose initial weights depend only on `name` and `seed`."""
    from lth.tf_setup import keras

    spec = get_spec(name)
    initializer = getattr(keras.initializers, spec.initializer)

    def init(layer_name: str):
        # A seed per layer: the same (model, seed) gives bit-identical weights in any process.
        return initializer(seed=seed * 1009 + spec.layer_names.index(layer_name))

    model = keras.Sequential(spec.build_layers(keras, init), name=name)
    model.build((None, *spec.input_shape))
    return model
