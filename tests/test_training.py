"""Real TensorFlow training on the bundled sample, small budgets."""

import numpy as np
import pytest

from lth import models
from lth.checkpoint import RoundCheckpoint
from lth.hparams import RunConfig
from lth.runner import run_experiment
from lth.training import Trainer

LAYERS = ("fc1", "fc2", "out")


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


@pytest.fixture
def recorded_starts(monkeypatch):
    """The weights each training starts from, by (arm, round): a spy around the real Trainer.fit."""
    starts = {}
    real_fit = Trainer.fit

    def fit(self, **kwargs):
        ctx = kwargs.get("context") or {"arm": None, "round": None}
        starts[(ctx["arm"], ctx["round"])] = {n: self.model.get_layer(n).kernel.numpy().copy() for n in self.masks}
        return real_fit(self, **kwargs)

    monkeypatch.setattr(Trainer, "fit", fit)
    return starts


@pytest.mark.trains
def test_masked_weights_stay_zero_and_reset_is_bit_exact(sample):
    model = models.build("lenet300_100", 0)
    theta0 = model.get_weights()
    trainer = Trainer(model, sample, optimizer="adam", lr=1.2e-3, batch_size=60, masked_layers=LAYERS)
    rng = np.random.default_rng(0)
    masks = {n: (rng.random(model.get_layer(n).kernel.shape) < 0.2).astype(np.float32) for n in LAYERS}
    kernels0 = models.get_spec("lenet300_100").kernels
    for _ in range(2):  # the second reset comes after training: it must restore theta0 exactly
        trainer.reset(theta0, masks)
        for n in LAYERS:
            kernel = model.get_layer(n).kernel.numpy()
            alive = masks[n] > 0
            assert np.array_equal(bits(kernel[alive]), bits(kernels0(theta0)[n][alive]))
            assert np.all(kernel[~alive] == 0)
        assert int(trainer.optimizer.iterations.numpy()) == 0
        result = trainer.fit(iterations=150, eval_every=50, data_seed=1)
        for n in LAYERS:
            kernel = model.get_layer(n).kernel.numpy()
            assert np.all(kernel[masks[n] == 0] == 0), f"{n}: a pruned weight moved"
            assert np.any(kernel[masks[n] > 0] != kernels0(theta0)[n][masks[n] > 0])  # the rest trained
        assert [h["iteration"] for h in result.history] == [50, 100, 150]
        assert result.final_test_accuracy > 0.7


@pytest.mark.trains
def test_lottery_resets_to_theta0_and_controls_keep_densities(recorded_starts, tmp_path):
    config = RunConfig(
        experiment="lottery", rounds=2, iterations=100, eval_every=50, controls=("reinit", "random_prune")
    )
    summary = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path))
    theta0 = models.build("lenet300_100", 0).get_weights()
    kernels0 = models.get_spec("lenet300_100").kernels
    ladder = config.plan.density_ladder()
    records = {(r["arm"], r["round"]): r for r in summary["results"]}
    assert sorted(records) == [
        ("random_prune", 1),
        ("random_prune", 2),
        ("reinit", 1),
        ("reinit", 2),
        ("ticket", 0),
        ("ticket", 1),
        ("ticket", 2),
    ]
    for round_ in range(3):
        saved = RoundCheckpoint(tmp_path)
        mask_file = np.load(tmp_path / f"round_{round_:02d}.npz")
        for n in LAYERS:
            start = recorded_starts[("ticket", round_)][n]
            alive = mask_file[f"mask/{n}"] > 0
            assert np.array_equal(bits(start[alive]), bits(kernels0(theta0)[n][alive]))  # reset to theta0
            assert np.all(start[~alive] == 0)
        assert records[("ticket", round_)]["density"] == pytest.approx(ladder[round_]["density"], abs=1e-12)
        assert records[("ticket", round_)]["layer_density"] == pytest.approx(ladder[round_]["layer_density"])
        if round_ == 0:
            continue
        for arm in ("reinit", "random_prune"):
            assert records[(arm, round_)]["layer_density"] == records[("ticket", round_)]["layer_density"]
        reinit = recorded_starts[("reinit", round_)]
        rand = recorded_starts[("random_prune", round_)]
        for n in LAYERS:
            alive = mask_file[f"mask/{n}"] > 0
            assert np.all(reinit[n][~alive] == 0) and not np.array_equal(reinit[n][alive], kernels0(theta0)[n][alive])
            assert np.count_nonzero(rand[n]) == np.count_nonzero(alive)
            assert not np.array_equal(rand[n] != 0, alive)  # a different mask
        assert saved.load_round(round_, config.plan) is not None


@pytest.mark.trains
def test_late_rewinding_resets_to_the_weights_at_iteration_k(recorded_starts, sample, tmp_path):
    k = 30
    config = RunConfig(experiment="lottery", rounds=1, iterations=100, eval_every=50, rewind=k)
    run_experiment(config, checkpoint=RoundCheckpoint(tmp_path))
    # Train the same network alone for k iterations with the run's data order: same weights, bit for bit.
    from lth.experiments import derive_seed

    model = models.build("lenet300_100", 0)
    trainer = Trainer(model, sample, optimizer="adam", lr=1.2e-3, batch_size=60, masked_layers=LAYERS)
    trainer.reset(model.get_weights())
    trainer.fit(iterations=k, eval_every=k, data_seed=derive_seed(0, "data"))
    theta_k = trainer.kernels()
    mask = np.load(tmp_path / "round_01.npz")
    for n in LAYERS:
        start = recorded_starts[("ticket", 1)][n]
        alive = mask[f"mask/{n}"] > 0
        assert np.array_equal(bits(start[alive]), bits(theta_k[n][alive]))
        assert np.all(start[~alive] == 0)


def _strip_times(summary):
    drop = {"train_seconds", "network_sha256"}  # the kept file's hash: a zip records when it was written
    return [{k: v for k, v in r.items() if k not in drop} for r in summary["results"]]


@pytest.mark.trains
def test_same_seed_same_metrics_and_resume_is_identical(tmp_path):
    config = RunConfig(experiment="lottery", rounds=2, iterations=80, eval_every=40, controls=("reinit",))
    first = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path / "a"))
    second = run_experiment(config)
    assert _strip_times(first) == _strip_times(second)
    # a run stopped after round 1 resumes from its checkpoint and ends identical
    for suffix in ("json", "npz"):
        (tmp_path / "a" / f"round_02.{suffix}").unlink()
    resumed = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path / "a"))
    assert _strip_times(resumed) == _strip_times(first)
    other_seed = run_experiment(RunConfig(**{**config.__dict__, "seed": 1}))
    assert _strip_times(other_seed) != _strip_times(first)


@pytest.mark.trains
def test_tfmot_reaches_its_target_density():
    config = RunConfig(experiment="tfmot", model="lenet5", target_density=0.1, iterations=150, eval_every=50)
    summary = run_experiment(config)
    arms = {r["arm"]: r for r in summary["results"]}
    assert set(arms) == {"pruned", "ticket", "reinit"}
    begin, end, _ = config.plan.schedule(150)
    assert arms["pruned"]["early_stop_iteration"] >= end  # never selected before the mask is final
    sizes = {"fc1": 400 * 120, "fc2": 120 * 84}
    for arm in arms.values():
        for n, size in sizes.items():
            assert abs(arm["layer_density"][n] - 0.1) <= 1 / size
        assert arm["density"] == pytest.approx(0.1, abs=1e-4)
        assert arm["early_stop_test_accuracy"] > 0.5


@pytest.mark.trains
def test_tfmot_schedule_length_under_a_patience_cap():
    # the converged budget's shape, small: prune over 20-60% of a stated length, patience ends each arm
    config = RunConfig(
        experiment="tfmot",
        model="lenet5",
        target_density=0.1,
        iterations=2000,
        eval_every=20,
        patience=3,
        schedule_length=100,
        lr=0.01,
    )
    begin, end, _ = config.plan.schedule(2000)
    assert (begin, end) == (20, 60)
    arms = {r["arm"]: r for r in run_experiment(config)["results"]}
    assert arms["pruned"]["early_stop_iteration"] >= end and arms["pruned"]["final_iteration"] < 2000
    for arm in arms.values():
        assert arm["density"] == pytest.approx(0.1, abs=1e-4)  # every arm at its target density
        assert arm["stopped_early"] and arm["final_iteration"] < 2000  # patience, not the cap, ended it


@pytest.mark.trains
def test_patience_stops_training_early():
    config = RunConfig(experiment="baseline", iterations=3000, eval_every=25, patience=1, lr=0.02)
    (record,) = run_experiment(config)["results"]
    assert record["stopped_early"] and record["final_iteration"] < 3000
    assert record["final_iteration"] == record["early_stop_iteration"] + 25


@pytest.mark.trains
def test_resume_inside_round_0_with_late_rewinding_restarts_from_theta0(tmp_path):
    """Stopped after the rewind weights were saved but before round 0 completed: round 0 must
    start again from theta0, not from the saved rewind point."""
    config = RunConfig(experiment="lottery", rounds=1, iterations=60, eval_every=30, rewind=20)
    first = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path))
    for name in ("round_00.json", "round_00.npz", "round_01.json", "round_01.npz"):
        (tmp_path / name).unlink()
    again = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path))
    assert _strip_times(again) == _strip_times(first)


MEMORY_PROBE = """
import sys
sys.path.insert(0, {root!r})
from lth import models
from lth.data import load_dataset
from lth.training import Trainer


def resident_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024


models.build("lenet300_100", 0)
start = resident_mb()
data = load_dataset("fashion-mnist")
arrays = sum(a.nbytes for a in (data.x_train, data.x_val, data.x_test, data.y_train, data.y_val, data.y_test))
grown = []
for seed in range(3):  # three trainings, as three rounds of a run
    trainer = Trainer(models.build("lenet300_100", seed), data, optimizer="adam", lr=1e-3, batch_size=60, jit=False)
    trainer.fit(iterations=20, eval_every=20, data_seed=seed)
    grown.append(resident_mb() - start)
print(arrays / 2**20, *grown)
"""


@pytest.mark.trains
def test_a_full_dataset_is_held_once_per_process_whatever_the_trainings():
    """60,000 Fashion-MNIST images: every training of a process shares one copy of the arrays on the device, so
    the resident memory does not grow with the rounds, and stays near twice the arrays (the arrays and their
    one copy as tensors) plus the trainings' own state."""
    import subprocess
    import sys

    from conftest import ROOT
    from lth.data.datasets import availability_problem

    if availability_problem("fashion-mnist"):
        pytest.skip("the complete Fashion-MNIST is not installed (make setup installs it)")
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE.format(root=str(ROOT))], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    arrays, *grown = map(float, done.stdout.split())
    assert grown[2] < grown[0] + 0.1 * arrays, grown  # a training does not add a copy of the data
    assert grown[0] < 2 * arrays + 150, (arrays, grown)  # 150 MB: the model, optimizer and compiled steps
