"""Model registry. Layer names and kernel shapes are static so plans (density ladders, config checks)
need no TensorFlow; `build()` makes the tf_keras model."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
            "conv1": (5, 5, 1, 6), "conv2": (5, 5, 6, 16),
            "fc1": (400, 120), "fc2": (120, 84), "out": (84, 10),
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
