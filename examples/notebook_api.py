"""The lab from Python, as a notebook uses it: your own network and arrays, a lottery run, its results as a
DataFrame and the Compare page's figure.

    python examples/notebook_api.py [--cache-dir DIR] [--out DIR]

The data is made here (three kinds of noisy 1-D signal with 2 channels); the network is
examples/signal_nets.py:conv1d_net. Run it twice: the second time the run is served from the store.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's lth, without installing it

from lth import api  # noqa: E402
from signal_nets import conv1d_net  # noqa: E402


def signals(count: int, seed: int):
    """Sine, square and sawtooth waves of random phase and frequency, with noise: (count, 64, 2), labels 0-2."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count)
    t = np.linspace(0, 1, 64)[None, :]
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    cycles = rng.uniform(2, 5, (count, 1))
    angle = 2 * np.pi * cycles * t + phase
    waves = np.stack([np.sin(angle), np.sign(np.sin(angle)), (angle / np.pi) % 2 - 1])
    x = waves[labels, np.arange(count)]
    x = np.stack([x, np.roll(x, 3, axis=1)], axis=-1) + rng.normal(0, 0.6, (count, 64, 2))
    return x.astype(np.float32), labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    x_train, y_train = signals(1200, 0)
    x_test, y_test = signals(400, 1)
    run = api.run(
        "lottery",
        model=conv1d_net,
        data=(x_train, y_train, x_test, y_test),
        data_name="waves",
        rounds=2,
        iterations=150,
        eval_every=50,
        controls=("reinit",),
        cache_dir=args.cache_dir,
    )
    results = run.results()
    print(f"run {run.run_id}: {run.state}")
    print(results[["arm", "round", "density", "early_stop_test_accuracy"]].to_string(index=False))
    figure = api.accuracy_figure(results)
    out = Path(args.out) / "waves_accuracy_vs_density.html"
    figure.write_html(out, include_plotlyjs=True)
    print(f"figure: {out}")


if __name__ == "__main__":
    main()
