"""The one place TensorFlow is imported.

tensorflow-model-optimization needs Keras 2 (`tf_keras`): TF_USE_LEGACY_KERAS must be set before
TensorFlow is first imported, so every module of this package imports `tf` and `keras` from here.
"""

import contextlib
import os
import shutil

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's start-up noise: INFO and WARNING always hidden; on a machine without an NVIDIA driver its
# "failed call to cuInit" is logged as an ERROR though nothing is wrong, so errors are hidden there too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if shutil.which("nvidia-smi") else "3")

import tensorflow as tf
import tf_keras as keras


def _enable_memory_growth() -> None:
    # Several runs share one GPU in sequence; TensorFlow would otherwise take all of its memory.
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # already initialised by an earlier import in this process
            tf.config.experimental.set_memory_growth(gpu, True)


_enable_memory_growth()

__all__ = ["tf", "keras"]
