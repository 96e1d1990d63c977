"""A researcher's own network: a function that builds a tf_keras model.

    def my_net(input_shape, classes, init):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv1D(16, 5, activation="relu", kernel_initializer=init("conv1"), name="conv1")(inputs)
        ...
        return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))

`init(layer_name, kind="glorot_normal")` gives a Keras initializer seeded from the run's seed and the layer's
name, so theta0 depends only on the seed. The kernels of Dense, Conv1D and Conv2D layers are pruned (the last
of them is the output layer, pruned at --output-prune-rate); biases never; normalisation layers are carried
along untouched; a layer with any other weights is refused.

A network is known by its *description* (`describe`): its prunable layers, the shapes of all its weights, a hash
of its Keras configuration and of theta0 at seed 0 (the identity, hashed into its architecture: part of the run
id), and its cost on this machine (a short calibration, for time estimates). Describing needs TensorFlow: a
process without it (the dashboard, the CLI) asks a child process.

A builder's code runs only where its user named it: on their command line, in their dashboard form, in their
notebook. Those record the module's file in the user's own list (`trust`, outside any run store); a worker imports
a module named in a run's config only if that file is on its user's list, so a shared store cannot make anyone
run code they did not choose.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lth import models
from lth.errors import Explained
from lth.seeds import derive_seed

CONFIG_DIR_ENV = "LTH_CONFIG_DIR"  # where the user's list of trusted builder files is kept
PRUNABLE = ("Dense", "Conv1D", "Conv2D")
CARRIED = ("BatchNormalization", "LayerNormalization", "GroupNormalization")
DEFAULT_INIT = "glorot_normal"
DEFAULT_CONV_RATE = 0.1  # Frankle & Carbin's per-round rate of Conv-2 and Conv-4's conv layers
DESCRIBE_TIMEOUT_S = 600
CALIBRATION_STEPS = 8  # timed training steps at batch 60 (after two to compile)


class BuilderError(Explained, ValueError):
    """A network builder that cannot be used; the message names it and says why."""


def parse(reference: str) -> tuple[str, str]:
    """(module, function) of "file.py:function" or "package.module:function"."""
    match = models.BUILDER_REFERENCE.fullmatch(reference) if isinstance(reference, str) else None
    if match is None:
        raise BuilderError(
            f"{str(reference)[:80]!r} is not a network builder: give file.py:function or module:function"
        )
    return match["module"], match["function"]


IN_PROCESS_MODULE = "__notebook__"  # the module part of a builder that lives only in this process
_IN_PROCESS: dict[str, Callable] = {}


def keep_in_process(builder: Callable) -> str:
    """A builder function without a file (defined in a notebook cell): known by name in this process only
    (lth.api runs it here; a worker cannot build it)."""
    name = getattr(builder, "__name__", "") or "network"
    if not name.isidentifier():
        name = "network"
    reference = f"{IN_PROCESS_MODULE}:{name}"
    _IN_PROCESS[reference] = builder
    return reference


def adopt(reference: str, source: Path) -> None:
    """Build `reference` from a copy of its module (`source`, shipped with a cluster task by the process whose
    user chose it), in this process only."""
    _, function = parse(reference)
    _IN_PROCESS[reference] = _function_of(_module_from_file(reference, source), reference, function, "its module")


def _module_from_file(reference: str, path: Path):
    """The module of a builder's file, executed under a name of its own (dataclasses and pickling look modules up
    by name); what it prints is not the lab's output."""
    import lth.tf_setup  # noqa: F401  (Keras 2 before the user's module imports TensorFlow)

    name = "lth_builder_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
    except Exception as e:  # the user's module: anything can go wrong in it
        raise BuilderError(f"{reference}: its module does not import: {_one_line(e)}") from None
    return module


def _function_of(module, reference: str, function: str, where: str):
    builder = getattr(module, function, None)
    if not callable(builder):
        raise BuilderError(f"{reference}: {where} has no function {function}")
    return builder


def _is_file(module: str) -> bool:
    """Whether a builder's module part names a file (path/to/nets.py), not an importable module."""
    return module.endswith(".py") or "/" in module or os.sep in module


def in_process_only(reference: str) -> bool:
    return parse(reference)[0] == IN_PROCESS_MODULE


def module_file(reference: str) -> Path:
    """The file a builder's module is read from (a .py file, or an importable module's source)."""
    module, _ = parse(reference)
    if module == IN_PROCESS_MODULE:
        raise BuilderError(
            f"{reference} was defined in a notebook: only the process that defined it can build it (put it in a "
            f".py file for workers and other processes)"
        )
    if _is_file(module):
        path = Path(module).expanduser()
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise BuilderError(f"{module}: no such file (the module of network builder {reference})") from None
        if not resolved.is_file():
            raise BuilderError(f"{module}: not a file (the module of network builder {reference})")
        return resolved
    try:
        found = _find_source(module)
    except (ImportError, ValueError) as e:
        raise BuilderError(f"{reference}: module {module} cannot be found ({e})") from None
    if found is None or not found.origin or not Path(found.origin).is_file():
        raise BuilderError(f"{reference}: no module {module} on the Python path (or give its file: path/to/file.py)")
    return Path(found.origin).resolve()


def _find_source(module: str):
    """The spec of `module` on the Python path, found without importing anything: `importlib.util.find_spec`
    would import a dotted name's parent packages (run their code) before the user's list is checked."""
    if module in sys.modules:
        return getattr(sys.modules[module], "__spec__", None)
    search = None
    found = None
    parts = module.split(".")
    for i, part in enumerate(parts):
        if not part.isidentifier():
            raise ValueError(f"{module!r} is not a module name")
        found = importlib.machinery.PathFinder.find_spec(part, search)
        if found is None:
            return None
        if i < len(parts) - 1:
            search = found.submodule_search_locations
            if search is None:  # not a package: it has no submodules
                return None
    return found


def absolute(reference: str) -> str:
    """The reference with a file module made absolute, so a worker started elsewhere finds the same file."""
    module, function = parse(reference)
    if module == IN_PROCESS_MODULE or reference in _IN_PROCESS:
        return reference
    if _is_file(module):
        return f"{module_file(reference)}:{function}"
    return reference


# ---- the user's own list of builder files -------------------------------------------------------------------
def _trust_file() -> Path:
    root = os.environ.get(CONFIG_DIR_ENV) or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config", "lth"
    )
    return Path(root) / "trusted-builders.json"


def _trusted_files() -> set[str]:
    try:
        value = json.loads(_trust_file().read_text())
    except (OSError, ValueError):
        return set()
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def trust(reference: str) -> None:
    """Record that this user chose the builder's module (their command, form or notebook named it)."""
    if reference in _IN_PROCESS:  # handed over as an object: nothing to record
        return
    path = str(module_file(reference))
    files = _trusted_files()
    if path in files:
        return
    target = _trust_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}")
        temporary.write_text(json.dumps(sorted(files | {path}), indent=1))
        os.replace(temporary, target)
    except OSError as e:
        raise BuilderError(f"cannot record {path} as your network builder in {target} ({e.strerror or e})") from None


def check_trusted(reference: str) -> None:
    path = str(module_file(reference))
    if path not in _trusted_files():
        raise BuilderError(
            f"network builder {reference} was not named by you on this machine (a run store's config alone never "
            f"decides which code runs): name it yourself once, by submitting the run again with --model {reference}"
        )


# ---- building ---------------------------------------------------------------------------------------------
def load(reference: str):
    """The builder function, its module imported from the user's own file (checked against their list)."""
    if reference in _IN_PROCESS:
        return _IN_PROCESS[reference]
    check_trusted(reference)
    module_name, function = parse(reference)
    path = module_file(reference)
    if _is_file(module_name):
        module = _module_from_file(reference, path)
    else:
        import lth.tf_setup  # noqa: F401  (Keras 2 before the user's module imports TensorFlow)

        try:
            with contextlib.redirect_stdout(io.StringIO()):
                module = importlib.import_module(module_name)
        except Exception as e:  # the user's module: anything can go wrong in it
            raise BuilderError(f"{reference}: its module does not import: {_one_line(e)}") from None
    return _function_of(module, reference, function, path.name)


def initializer_for(seed: int):
    """The `init` a builder receives: a seeded Keras initializer per layer name."""
    from lth.tf_setup import keras

    def init(layer_name: str, kind: str = DEFAULT_INIT):
        if not isinstance(layer_name, str) or not layer_name:
            raise BuilderError("init(layer_name) needs the layer's name (a non-empty string)")
        try:
            return keras.initializers.get(
                {"class_name": kind, "config": {"seed": derive_seed(seed, "init", layer_name)}}
            )
        except (ValueError, TypeError) as e:
            raise BuilderError(f"init({layer_name!r}, {kind!r}): not a Keras initializer with a seed ({e})") from None

    return init


def call_builder(builder, reference: str, input_shape: tuple[int, ...], classes: int, seed: int):
    """Call the user's function and check that it made a tf_keras model for these inputs and classes."""
    from lth.tf_setup import keras

    # Keras numbers unnamed layers per process ("flatten_3"); from zero at each build, a network's saved file
    # (and so its compressed size) is the same in every process
    keras.backend.reset_uids()
    try:
        model = builder(tuple(input_shape), int(classes), initializer_for(seed))
    except BuilderError:
        raise
    except Exception as e:
        raise BuilderError(f"{reference} raised {_one_line(e)}") from None
    if not isinstance(model, keras.Model):
        hint = (
            " (a Keras 3 model? build it with tf_keras, which lth.tf_setup.keras is)"
            if "keras" in str(type(model))
            else ""
        )
        raise BuilderError(f"{reference} returned {type(model).__name__}, not a tf_keras model{hint}")
    try:
        if not model.built:
            model.build((None, *input_shape))
        output = model.compute_output_shape((None, *input_shape))
    except Exception as e:
        raise BuilderError(
            f"{reference}: the model does not take inputs of shape {input_shape}: {_one_line(e)}"
        ) from None
    if tuple(output) != (None, classes):
        raise BuilderError(
            f"{reference}: its output has shape {tuple(output)[1:]}, not ({classes},) for {classes} classes"
        )
    return model


def build(spec: models.ModelSpec, seed: int):
    """The network of a described spec at `seed` (a worker's or a notebook's process)."""
    assert spec.builder is not None
    return call_builder(load(spec.builder), spec.builder, spec.input_shape, spec.classes, seed)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:300]}" if not text.startswith(type(e).__name__) else text[:300]


# ---- describing -----------------------------------------------------------------------------------------------
def _layers(model, reference: str) -> list:
    from lth.tf_setup import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.weights:
            raise BuilderError(
                f"{reference}: layer {layer.name} is a nested model; build one flat model (its layers directly)"
            )
        out.append(layer)
    return out


def _kind(layer) -> str | None:
    for cls in type(layer).__mro__:
        if cls.__name__ in PRUNABLE:
            return "conv" if cls.__name__.startswith("Conv") else "dense"
        if cls.__name__ in CARRIED:
            return "carried"
    return None


def _normalized_config(model) -> str:
    """The model's Keras configuration with every layer's name replaced by its position: Keras numbers unnamed
    layers per process ("flatten_3"), which must not make the same network look different."""
    names = {model.name: "model", **{layer.name: f"layer{i}" for i, layer in enumerate(model.layers)}}

    def renamed(value):
        if isinstance(value, dict):
            return {k: renamed(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [renamed(v) for v in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    try:
        config = renamed(model.get_config())
        return json.dumps(config, sort_keys=True, default=repr)
    except Exception:  # a custom layer without get_config: its weights' shapes and values still identify it
        return repr([type(layer).__name__ for layer in model.layers])


def describe_model(model, reference: str, input_shape: tuple[int, ...], classes: int) -> dict:
    """The description of a built model (seed 0): its identity and prunable layers."""
    variables = model.weights
    index = {id(v): i for i, v in enumerate(variables)}
    layers = []
    for layer in _layers(model, reference):
        if not layer.weights:
            continue
        kind = _kind(layer)
        if kind is None:
            raise BuilderError(
                f"{reference}: layer {layer.name} ({type(layer).__name__}) has weights the lab cannot prune or "
                f"carry (it prunes Dense, Conv1D and Conv2D kernels and carries normalisation layers)"
            )
        if kind == "carried":
            continue
        if type(layer).__name__ in (
            "DepthwiseConv2D",
            "SeparableConv2D",
            "SeparableConv1D",
            "Conv1DTranspose",
            "Conv2DTranspose",
        ):
            raise BuilderError(f"{reference}: layer {layer.name} ({type(layer).__name__}) cannot be pruned here")
        kernel = layer.kernel
        output = layer.output_shape if hasattr(layer, "output_shape") else None
        positions = math.prod(d for d in output[1:-1]) if kind == "conv" and output else 1
        layers.append(
            {
                "name": layer.name,
                "kind": kind,
                "kernel_shape": [int(d) for d in kernel.shape],
                "kernel_index": index[id(kernel)],
                "positions": int(positions),
            }
        )
    if not layers:
        raise BuilderError(f"{reference}: the network has no Dense, Conv1D or Conv2D layer to prune")
    if layers[-1]["kind"] != "dense" or layers[-1]["kernel_shape"][-1] != classes:
        raise BuilderError(
            f"{reference}: its last prunable layer ({layers[-1]['name']}) must be the Dense output layer of "
            f"{classes} units (it is pruned at --output-prune-rate)"
        )
    weights = model.get_weights()
    config = _normalized_config(model)
    theta0 = hashlib.sha256()
    for w in weights:
        theta0.update(np.ascontiguousarray(w).tobytes())
    identity = {
        "input_shape": list(input_shape),
        "classes": int(classes),
        "layers": layers,
        "weights": [[int(d) for d in w.shape] for w in weights],
        "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
        "theta0_sha256": theta0.hexdigest(),
    }
    return {"builder": reference, "identity": identity, "architecture": models.architecture_hash(identity)}


def _calibrate(model, input_shape: tuple[int, ...], classes: int) -> dict:
    """Seconds per training sample and per evaluated example on this machine (a few steps at batch 60)."""
    from lth.tf_setup import keras, tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((60, *input_shape), dtype=np.float32))
    y = tf.constant(rng.integers(0, classes, 60), dtype=tf.int32)
    optimizer = keras.optimizers.Adam(1e-3)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(value, model.trainable_variables), model.trainable_variables))

    @tf.function
    def evaluate():
        return model(x, training=False)

    for _ in range(2):
        step()
        evaluate()
    started = time.perf_counter()
    for _ in range(CALIBRATION_STEPS):
        step()
    train = (time.perf_counter() - started) / (CALIBRATION_STEPS * 60)
    started = time.perf_counter()
    for _ in range(CALIBRATION_STEPS):
        evaluate().numpy()
    evaluated = (time.perf_counter() - started) / (CALIBRATION_STEPS * 60)
    return {"train_us": round(train * 1e6, 2), "eval_us": round(evaluated * 1e6, 2), "eval_call_s": 0.02}


def describe_here(reference: str, input_shape: tuple[int, ...], classes: int, calibrate: bool = True) -> dict:
    """Describe a builder's network in this process (it needs TensorFlow): build it at seed 0 twice (theta0
    must depend only on the seed), check it, and time a few training steps."""
    builder = load(reference)
    model = call_builder(builder, reference, input_shape, classes, seed=0)
    description = describe_model(model, reference, input_shape, classes)
    again = describe_model(call_builder(builder, reference, input_shape, classes, 0), reference, input_shape, classes)
    if again["architecture"] != description["architecture"]:
        raise BuilderError(
            f"{reference}: two builds at the same seed differ (an initializer without init(...)'s seed?); "
            f"theta0 must depend only on the seed"
        )
    if calibrate:
        description["cpu"] = _calibrate(model, tuple(input_shape), classes)
    return description


_DESCRIBED: dict[tuple, dict] = {}


def describe(reference: str, input_shape: tuple[int, ...], classes: int) -> dict:
    """The description of a builder's network for these inputs, registered as a spec in this process. Without
    TensorFlow loaded, a child process (`python -m lth.builders`) builds it. Cached per file content."""
    reference = absolute(reference)
    if reference in _IN_PROCESS:  # described afresh each time: the notebook may have redefined it
        key: tuple = (reference, id(_IN_PROCESS[reference]), tuple(input_shape), int(classes))
    else:
        path = module_file(reference)
        try:  # the file's content, not its times: an edit within the file system's clock tick is still an edit
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as e:
            raise BuilderError(f"{path}: cannot be read ({e.strerror or e})") from None
        key = (reference, str(path), content, tuple(input_shape), int(classes))
    if reference not in _IN_PROCESS:  # every time: what this process described before is no licence to use it now
        check_trusted(reference)
    if key not in _DESCRIBED:
        if "tensorflow" in sys.modules or reference in _IN_PROCESS:
            description = describe_here(reference, tuple(input_shape), classes)
        else:
            description = _describe_in_child(reference, tuple(input_shape), classes)
        _DESCRIBED[key] = description
    description = _DESCRIBED[key]
    register(description)
    return description


def _describe_in_child(reference: str, input_shape: tuple[int, ...], classes: int) -> dict:
    command = [
        sys.executable,
        "-m",
        "lth.builders",
        reference,
        ",".join(map(str, input_shape)),
        str(classes),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=DESCRIBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BuilderError(f"{reference}: building the network took over {DESCRIBE_TIMEOUT_S} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " ".join(done.stderr.split()[-40:])
        raise BuilderError(f"{reference}: describing the network failed ({tail[-300:] or 'no output'})") from None
    if "error" in answer:
        raise BuilderError(str(answer["error"]))
    return answer


def spec_of(description: dict) -> models.ModelSpec:
    """The ModelSpec of a description (checked: its identity must hash to its architecture)."""
    identity = description.get("identity") if isinstance(description, dict) else None
    if not isinstance(identity, dict) or models.architecture_hash(identity) != description.get("architecture"):
        raise BuilderError("the network's description does not hash to its architecture (edited by hand?)")
    try:
        layers = identity["layers"]
        kernel_shapes = {entry["name"]: tuple(int(d) for d in entry["kernel_shape"]) for entry in layers}
        cpu = description.get("cpu") or {}
        has_conv = any(entry["kind"] == "conv" for entry in layers)
        return models.ModelSpec(
            name=str(description["builder"]),
            description=f"your network {description['builder']} ({len(layers)} prunable layers)",
            kernel_shapes=kernel_shapes,
            default_prunable=tuple(kernel_shapes),
            initializer="builder",
            build_layers=None,
            cpu=models.CpuCost(
                float(cpu.get("train_us", 1000.0)),
                float(cpu.get("eval_us", 300.0)),
                float(cpu.get("eval_call_s", 0.02)),
            ),
            input_shape=tuple(int(d) for d in identity["input_shape"]),
            conv_prune_rate=DEFAULT_CONV_RATE if has_conv else None,
            xla=False,
            positions={entry["name"]: int(entry["positions"]) for entry in layers},
            classes=int(identity["classes"]),
            weights=tuple(tuple(int(d) for d in shape) for shape in identity["weights"]),
            kernel_index={entry["name"]: int(entry["kernel_index"]) for entry in layers},
            builder=str(description["builder"]),
            make=build,
            architecture=str(description["architecture"]),
            output_layer=layers[-1]["name"],
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BuilderError(f"the network's description is malformed ({e})") from None


_BY_ARCHITECTURE: dict[str, dict] = {}


def described(architecture: str | None) -> dict:
    """The description registered in this process for `architecture`."""
    if architecture not in _BY_ARCHITECTURE:
        raise BuilderError(f"no network of architecture {architecture} is described in this process")
    return _BY_ARCHITECTURE[architecture]


def register(description: dict) -> models.ModelSpec:
    spec = spec_of(description)
    _BY_ARCHITECTURE[str(spec.architecture)] = description
    models.register(spec, models.spec_key(spec.name, spec.input_shape, spec.classes, spec.architecture))
    return spec


def main(argv: list[str]) -> int:
    """`python -m lth.builders REFERENCE H,W,C CLASSES`: one JSON line, the description or the error."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        reference, shape, classes = argv
        input_shape = tuple(int(d) for d in shape.split(",") if d)
        description = describe_here(reference, input_shape, int(classes))
    except BuilderError as e:
        print(json.dumps({"error": str(e)}))
        return 2
    except Exception as e:  # the user's code inside TensorFlow: say what, in one line
        print(json.dumps({"error": f"{argv[0] if argv else 'builder'}: {_one_line(e)}"}))
        return 2
    print(json.dumps(description))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
