"""The one training loop of every experiment.

Speed: many steps run inside one XLA-compiled `tf.function` (a `tf.range` loop gathering batches from
data that already sits on the device), so Python is entered once per evaluation, not once per step, and
XLA fuses the small ops of a step (about twice as fast as the same loop without XLA on a CPU).
Correctness: pruned weights start at zero and their gradients are masked in the compiled step, so Adam's
moments for them stay zero and they stay exactly zero; the optimiser state is reset before every
training, so a round depends only on its starting weights, mask and data seed (what makes resumed runs
identical to uninterrupted ones).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lth.data import Dataset
from lth.errors import Explained
from lth.hparams import test_curve_every
from lth.tf_setup import keras, tf

EVAL_BATCH = 5000  # large batches: evaluation is compute-bound, fewer calls cost less
MAX_CHUNK = 5000  # training steps per compiled call at most (bounds the batch indices held in memory)
OnEval = Callable[[dict], None]


def make_optimizer(name: str, lr: float):
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr)
    raise ValueError(f"unknown optimizer {name!r}")


class TrainingDiverged(Explained, ArithmeticError):
    """The loss became NaN or infinite: the run fails with this message instead of reporting chance."""


def chunk_boundaries(iterations: int, eval_every: int, snapshot_at: int | None = None):
    """The iterations where a compiled chunk ends, in order: evaluations, the snapshot, the end.

    A generator, so a huge budget costs no memory before it is trained."""
    extra = snapshot_at if snapshot_at is not None and 0 < snapshot_at < iterations else None
    boundary = eval_every
    while boundary < iterations:
        if extra is not None and extra < boundary:
            yield extra
        if extra is not None and extra <= boundary:
            extra = None
        yield boundary
        boundary += eval_every
    if extra is not None:
        yield extra
    yield iterations


class BatchOrder:
    """Batches of training indices: a fresh permutation each epoch, remainder dropped; seeded."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.rng = np.random.default_rng(seed)
        self.per_epoch = n // batch_size
        self._queue = np.empty((0, batch_size), dtype=np.int32)

    def take(self, count: int) -> np.ndarray:
        while len(self._queue) < count:
            perm = self.rng.permutation(self.n).astype(np.int32)
            epoch = perm[: self.per_epoch * self.batch_size].reshape(self.per_epoch, self.batch_size)
            self._queue = np.concatenate([self._queue, epoch])
        out, self._queue = self._queue[:count], self._queue[count:]
        return out


@dataclass
class TrainResult:
    history: list[dict]
    early_stop_iteration: int
    early_stop_val_loss: float
    early_stop_val_accuracy: float
    early_stop_test_accuracy: float
    final_iteration: int
    final_val_accuracy: float
    final_test_accuracy: float
    stopped_early: bool
    seconds: float
    snapshot: list[np.ndarray] | None = field(default=None, repr=False)
    best_weights: list[np.ndarray] | None = field(default=None, repr=False)  # at the early-stop iteration

    def summary(self) -> dict:
        return {
            "early_stop_iteration": self.early_stop_iteration,
            "early_stop_val_loss": self.early_stop_val_loss,
            "early_stop_val_accuracy": self.early_stop_val_accuracy,
            "early_stop_test_accuracy": self.early_stop_test_accuracy,
            "final_iteration": self.final_iteration,
            "final_val_accuracy": self.final_val_accuracy,
            "final_test_accuracy": self.final_test_accuracy,
            "stopped_early": self.stopped_early,
            "train_seconds": round(self.seconds, 3),
        }


_ON_DEVICE: dict[tuple, tuple] = {}  # the one copy of a dataset's arrays on a device, per process


def _device_arrays(data: Dataset, device: str) -> tuple:
    """The dataset's arrays as tensors on `device`, made once per process: every training of a run (each round,
    each arm) shares them instead of holding a copy each."""
    key = (data.fingerprint, data.name, device)
    if key not in _ON_DEVICE:
        _ON_DEVICE.clear()  # one dataset at a time: a process trains one run
        with tf.device(device):
            _ON_DEVICE[key] = (
                tf.constant(data.x_train),
                tf.constant(data.y_train),
                {
                    "val": (tf.constant(data.x_val), tf.constant(data.y_val)),
                    "test": (tf.constant(data.x_test), tf.constant(data.y_test)),
                },
            )
    return _ON_DEVICE[key]


class Trainer:
    """Trains one model instance again and again (reset between trainings), compiled once.

    `masked_layers` names the layers whose kernels carry a mask; the mask values change with
    `reset()` without retracing the compiled step.
    """

    def __init__(
        self,
        model,
        data: Dataset,
        *,
        optimizer: str,
        lr: float,
        batch_size: int,
        masked_layers=(),
        device: str = "/CPU:0",
        jit: bool = True,
    ):
        self.model, self.data, self.batch_size, self.device = model, data, batch_size, device
        with tf.device(device):
            self.x_train, self.y_train, self.eval_sets = _device_arrays(data, device)
            self.optimizer = make_optimizer(optimizer, lr)
            self.optimizer.build(model.trainable_variables)
            self.masks = {
                name: tf.Variable(tf.ones_like(model.get_layer(name).kernel), trainable=False, name=f"mask_{name}")
                for name in masked_layers
            }
        self._masked_pairs = [(model.get_layer(n).kernel, m) for n, m in self.masks.items()]
        masked_ids = {id(k): m for k, m in self._masked_pairs}
        self._grad_masks = [masked_ids.get(id(v)) for v in model.trainable_variables]
        self._loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=keras.losses.Reduction.SUM)
        self._compile(jit)

    def _compile(self, jit: bool) -> None:
        self.jit = jit
        self._train_chunk = tf.function(
            self._train_chunk_impl, jit_compile=jit, input_signature=[tf.TensorSpec([None, None], tf.int32)]
        )
        self._eval_batch = tf.function(
            self._eval_batch_impl,
            jit_compile=jit,
            input_signature=[
                tf.TensorSpec([None, *self.data.x_train.shape[1:]], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def _call(self, name: str, *args):
        """Call a compiled piece; if XLA cannot compile it on this device, fall back to plain graphs."""
        try:
            return getattr(self, name)(*args)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError) as e:
            if not self.jit or "XLA" not in str(e):
                raise
            print(f"lth: XLA cannot compile training on {self.device}; using plain graphs ({str(e)[:200]})", flush=True)
            self._compile(False)
            return getattr(self, name)(*args)

    # ---- compiled pieces ----------------------------------------------------------------------
    def _train_chunk_impl(self, batches):
        model, variables = self.model, self.model.trainable_variables
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0, tf.int64)
        for i in tf.range(tf.shape(batches)[0]):
            x = tf.gather(self.x_train, batches[i])
            y = tf.gather(self.y_train, batches[i])
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = self._loss(y, logits) / tf.cast(tf.shape(y)[0], tf.float32)
            grads = tape.gradient(loss, variables)
            grads = [g if m is None else g * m for g, m in zip(grads, self._grad_masks)]
            self.optimizer.apply_gradients(zip(grads, variables))
            loss_sum += loss
            correct += tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.int64))
        return loss_sum, correct

    def _eval_batch_impl(self, x, y):
        logits = self.model(x, training=False)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.int64))
        return self._loss(y, logits), correct

    # ---- state ----------------------------------------------------------------------------------
    def reset(self, weights: list[np.ndarray], masks: dict[str, np.ndarray] | None = None) -> None:
        """Start afresh from `weights` (masked by `masks`) with a fresh optimiser state."""
        self.model.set_weights(weights)
        for name, variable in self.masks.items():
            variable.assign(masks[name] if masks is not None else np.ones(variable.shape, np.float32))
        for kernel, mask in self._masked_pairs:
            kernel.assign(kernel * mask)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))

    def kernels(self) -> dict[str, np.ndarray]:
        return {name: self.model.get_layer(name).kernel.numpy() for name in self.masks}

    def evaluate(self, split: str) -> tuple[float, float]:
        """Mean loss and accuracy on 'val' or 'test'."""
        x, y = self.eval_sets[split]
        loss, correct, n = 0.0, 0, int(y.shape[0])
        with tf.device(self.device):
            for start in range(0, n, EVAL_BATCH):
                batch_loss, batch_correct = self._call(
                    "_eval_batch", x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH]
                )
                loss += float(batch_loss)
                correct += int(batch_correct)
        return loss / n, correct / n

    def train_steps(self, batches: np.ndarray) -> tuple[float, int]:
        """Run one compiled step per row of `batches` (training indices); returns (loss sum, correct)."""
        with tf.device(self.device):
            loss_sum, correct = self._call("_train_chunk", batches)
        return float(loss_sum), int(correct)

    # ---- the loop -------------------------------------------------------------------------------
    def fit(
        self,
        *,
        iterations: int,
        eval_every: int,
        data_seed: int,
        patience: int | None = None,
        select_from: int = 0,
        snapshot_at: int | None = None,
        on_eval: OnEval | None = None,
        context: dict | None = None,
        test_every: int | None = None,
    ) -> TrainResult:
        """Train for `iterations` steps, evaluating every `eval_every` steps and at the end.

        The early-stop iteration is the evaluation with the lowest validation loss at or after
        `select_from` (as in the paper, training is not cut short unless `patience` is set).
        `snapshot_at` returns the weights at that iteration (late rewinding; patience does not stop the
        training before it). The test set is evaluated
        where a number is reported (each new best validation loss, the end) and every `test_every`
        iterations for the live curve (default: `test_curve_every(eval_every)`).
        """
        order = BatchOrder(len(self.data.y_train), self.batch_size, data_seed)
        test_every = test_every or test_curve_every(eval_every)
        snapshot = self.model.get_weights() if snapshot_at == 0 else None
        history: list[dict] = []
        best: dict | None = None
        best_weights: list[np.ndarray] | None = None
        since_best, done, stopped_early = 0, 0, False
        seen, loss_sum, correct = 0, 0.0, 0
        started = time.perf_counter()
        with tf.device(self.device):
            for boundary in chunk_boundaries(iterations, eval_every, snapshot_at):
                while done < boundary:  # at most MAX_CHUNK steps' indices in memory at once
                    steps = min(boundary - done, MAX_CHUNK)
                    chunk_loss, chunk_correct = self.train_steps(order.take(steps))
                    if not math.isfinite(chunk_loss):
                        raise TrainingDiverged(
                            f"training diverged: the loss is {chunk_loss} by iteration "
                            f"{done + steps}; lower the learning rate"
                        )
                    seen += steps * self.batch_size
                    loss_sum += chunk_loss * self.batch_size
                    correct += chunk_correct
                    done += steps
                if boundary == snapshot_at:
                    snapshot = self.model.get_weights()
                if boundary % eval_every and boundary != iterations:
                    continue
                val_loss, val_acc = self.evaluate("val")
                is_best = boundary >= select_from and (best is None or val_loss < best["val_loss"])
                if boundary >= select_from:
                    since_best = 0 if is_best else since_best + 1
                # patience never stops a training before its snapshot (the late-rewinding point) is taken
                stop = (
                    patience is not None and since_best >= patience and (snapshot_at is None or boundary >= snapshot_at)
                )
                # Only the test accuracy at the best validation loss (and at the end) is reported, so the
                # test set is evaluated there and, for the live curve, every `test_every` iterations.
                if is_best or stop or boundary == iterations or boundary % test_every == 0:
                    test_loss, test_acc = self.evaluate("test")
                else:
                    test_loss, test_acc = None, None
                record = {
                    **(context or {}),
                    "iteration": boundary,
                    "total_iterations": iterations,
                    "train_loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                    "val_loss": val_loss,
                    "val_accuracy": val_acc,
                    "test_loss": test_loss,
                    "test_accuracy": test_acc,
                    "elapsed": time.perf_counter() - started,
                }
                seen, loss_sum, correct = 0, 0.0, 0
                history.append(record)
                if on_eval is not None:
                    on_eval(record)
                if is_best:
                    best, best_weights = record, self.model.get_weights()
                if stop:
                    stopped_early = boundary < iterations
                    break
        if best is None:  # no evaluation at or after select_from: the last one stands in
            best, best_weights = history[-1], self.model.get_weights()
        last = history[-1]
        return TrainResult(
            history=history,
            early_stop_iteration=best["iteration"],
            early_stop_val_loss=best["val_loss"],
            early_stop_val_accuracy=best["val_accuracy"],
            early_stop_test_accuracy=best["test_accuracy"],
            final_iteration=last["iteration"],
            final_val_accuracy=last["val_accuracy"],
            final_test_accuracy=last["test_accuracy"],
            stopped_early=stopped_early,
            seconds=time.perf_counter() - started,
            snapshot=snapshot,
            best_weights=best_weights,
        )
