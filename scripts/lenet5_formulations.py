"""Which formulation of lenet5's training is fastest on this CPU (the probe behind the README's Speed
section): the product's loop in plain graphs with oneDNN (what runs), the same with oneDNN off
(TF_ENABLE_ONEDNN_OPTS=0), XLA with max-pooling written as reshape + reduce_max (XLA compiles it, unlike
TensorFlow's MaxPool gradient under op determinism), the reshape pooling without XLA, and tf_keras `fit`.
Usage: .venv/bin/python scripts/lenet5_formulations.py   (and again with TF_ENABLE_ONEDNN_OPTS=0)
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lth import models  # noqa: E402
from lth.bench import bench_dataset  # noqa: E402
from lth.tf_setup import keras, tf  # noqa: E402
from lth.training import BatchOrder, Trainer  # noqa: E402

tf.config.experimental.enable_op_determinism()  # as a run trains
tf.random.set_seed(0)
data = bench_dataset()


class ReshapePool(keras.layers.Layer):
    def call(self, x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        return tf.reduce_max(tf.reshape(x, [-1, h // 2, 2, w // 2, 2, c]), axis=[2, 4])


def build(reshape_pool: bool):
    model = models.build("lenet5", 0)
    if not reshape_pool:
        return model
    layers = [ReshapePool(name=l.name) if isinstance(l, keras.layers.MaxPooling2D) else l for l in model.layers]
    rebuilt = keras.Sequential(layers)
    rebuilt.build((None, 28, 28, 1))
    return rebuilt


for batch in (600, 60):
    steps = 12_000 // batch
    for name, reshape_pool, jit in (("plain graphs (what runs)", False, False), ("XLA, reshape pooling", True, True),
                                    ("plain graphs, reshape pooling", True, False)):
        model = build(reshape_pool)
        trainer = Trainer(model, data, optimizer="adam", lr=1e-2, batch_size=batch, jit=jit)
        trainer.reset(model.get_weights())
        batches = BatchOrder(len(data.y_train), batch, 0).take(steps)
        trainer.train_steps(batches[:5])
        start = time.perf_counter()
        trainer.train_steps(batches)
        print(f"batch {batch}: {name:30s} {1e6 * (time.perf_counter() - start) / (steps * batch):7.1f} us/sample",
              flush=True)
    model = build(False)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data.x_train[:steps * batch], data.y_train[:steps * batch]
    model.fit(x[:5 * batch], y[:5 * batch], batch_size=batch, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    print(f"batch {batch}: {'tf_keras fit':30s} {1e6 * (time.perf_counter() - start) / (steps * batch):7.1f} us/sample")
