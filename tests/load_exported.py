"""Load exported model files the way a user without this product would, and print their test accuracy.

Run as `python -I tests/load_exported.py DATA PATH...`, DATA an IDX folder or an `.npz` file of arrays.
Prints one JSON object {path: accuracy}.

`make setup` puts the repository on the environment's path (a `.pth` file), so the folders that hold the
product are taken off `sys.path` first: what is left is a Python with TensorFlow and without this product."""

import gzip
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf
import tf_keras


def idx(folder: Path, stem: str) -> np.ndarray:
    path = next(p for p in folder.iterdir() if p.name.startswith(stem))
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    ndim = data[3]
    dims = np.frombuffer(data[4 : 4 + 4 * ndim], ">u4")
    return np.frombuffer(data[4 + 4 * ndim :], np.uint8).reshape(dims)


def test_split(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test images as the product feeds them (uint8 scaled to [0, 1]) and their labels."""
    if data.suffix == ".npz":
        arrays = np.load(data)
        x, y = arrays["x_test"], arrays["y_test"]
    else:
        x, y = idx(data, "t10k-images")[..., None], idx(data, "t10k-labels")
    return (x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)), y


def main() -> None:
    sys.path[:] = [entry for entry in sys.path if not (Path(entry or ".") / "lth" / "__init__.py").exists()]
    assert "lth" not in sys.modules
    try:
        import lth  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the product is importable: this check must run without it")
    x, y = test_split(Path(sys.argv[1]))
    out = {}
    for path in sys.argv[2:]:
        if path.endswith((".keras", ".h5")):
            logits = tf_keras.models.load_model(path).predict(x, batch_size=1000, verbose=0)
        elif path.endswith(".tflite"):
            interpreter = tf.lite.Interpreter(model_path=path)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, x.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, x)
            interpreter.invoke()
            logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        else:
            serve = tf.saved_model.load(path).signatures["serving_default"]
            logits = next(iter(serve(tf.constant(x)).values())).numpy()
        out[path] = float(np.mean(np.argmax(logits, axis=1) == y))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
