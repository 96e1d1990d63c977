"""Network builders for examples/notebook_api.py: each is a function (input_shape, classes, init) -> tf_keras model,
with `init(layer_name)` as every kernel's initializer so the initial weights depend only on the run's seed."""

from lth.tf_setup import keras


def conv1d_net(input_shape, classes, init):
    """Two 1-D convolutions over the signal (pruned at the conv rate), batch-normalised and pooled, then a
    Dense head (pruned at --prune-rate; the output at --output-prune-rate)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(16, 5, padding="same", activation="relu", kernel_initializer=init("conv1"), name="conv1")(
        inputs
    )
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.MaxPooling1D(2, name="pool1")(x)
    x = keras.layers.Conv1D(16, 5, padding="same", activation="relu", kernel_initializer=init("conv2"), name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    x = keras.layers.Dropout(0.1, name="drop")(x)
    x = keras.layers.Dense(32, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
    outputs = keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x)
    return keras.Model(inputs, outputs, name="conv1d_net")
