"""A kept network as a model that loads in plain TensorFlow: tf_keras (.keras, .h5), SavedModel, TensorFlow
Lite; and the file sizes of the compression report (the .h5 file and that file gzip'ed, as tfmot's pruning
guide measures them). Runs in training and CLI processes only (it imports TensorFlow)."""

from __future__ import annotations

import gzip
import os
import tempfile
import warnings
from pathlib import Path

from lth import models
from lth.errors import ExportError
from lth.fsutil import OutputError, output_file, write_new_file
from lth.networks import EXPORT_FORMATS as FORMATS
from lth.networks import EXPORT_SUFFIX as SUFFIX
from lth.networks import Network
from lth.tf_setup import keras, tf


def build(network: Network, plain_model=None):
    """The network as a plain tf_keras model (no pruning wrappers: pruned weights are stored zeros). A user's
    network is rebuilt from their builder (lth.builders), which must still build the network the run trained:
    weights of the same shapes in a changed network (another activation, say) would export a model that does not
    score what the run reports."""
    spec = network.spec
    model = plain_model or models.build(network.model, 0)
    if plain_model is None and spec.builder is not None:
        from lth import builders

        found = builders.describe_model(model, spec.builder, spec.input_shape, spec.classes)["architecture"]
        if found != spec.architecture:
            raise ExportError(
                f"{spec.builder} now builds a different network (architecture {found}) than the run trained "
                f"(architecture {spec.architecture}): restore the file to export this run's networks"
            )
    model.set_weights(network.weights)
    return model


def tflite_bytes(model) -> bytes:
    """TensorFlow Lite flatbuffer; sparse kernels stored sparse where the converter finds it pays."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return converter.convert()


def save(network: Network, fmt: str, out: str | Path) -> Path:
    """Write the network to `out` in `fmt` (a folder for savedmodel); returns the path written. A file is
    written as a new file only (lth.fsutil.write_new_file: never over an existing path, never through a
    link); a savedmodel goes into a folder made here, which fails if anything is at that path."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = output_file(out, SUFFIX[fmt])
    model = build(network)
    if fmt == "savedmodel":
        try:
            os.mkdir(out)
        except FileExistsError:
            raise OutputError(f"--out {out} exists; choose a new path (nothing is overwritten)") from None
        tf.saved_model.save(model, str(out))
        return out
    if fmt == "tflite":
        data = tflite_bytes(model)
    else:
        with tempfile.TemporaryDirectory(prefix="lth-export-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # .h5 is asked for by name
            private = Path(tmp) / f"model{SUFFIX[fmt]}"
            model.save(str(private), **({"include_optimizer": False} if fmt == "h5" else {}))
            data = private.read_bytes()
    return write_new_file(out, data)


def file_sizes(model) -> dict:
    """Bytes of the model's .h5 file and of that file gzip'ed at level 9 (zeros compress: that is the saving).
    tfmot's pruning guide zips the file at zlib's default level 6: about 3% more bytes for a sparse network."""
    with tempfile.TemporaryDirectory(prefix="lth-size-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDF5 is legacy": it is the format tfmot's guide measures
        path = Path(tmp) / "model.h5"
        keras.models.save_model(model, str(path), include_optimizer=False)
        data = path.read_bytes()
    return {"h5_bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0))}
