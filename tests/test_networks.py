"""Kept networks: mask integrity, the compression report, model export that plain TensorFlow loads,
TensorBoard event files. Real training (the shared filled store), real exported files."""

import json

import numpy as np
import pytest

from conftest import exported_accuracies, run_cli
from lth import networks
from lth.data.datasets import SAMPLE_DIR
from lth.runs import kept as kept_networks
from lth.runs import logs as run_logs
from lth.runs import tables as run_tables


def lottery_run(store, seed=0):
    return next(
        r
        for r in store.run_ids()
        if store.config_and_record(r)[1].experiment == "lottery" and store.config_and_record(r)[1].seed == seed
    )


@pytest.mark.trains
def test_every_training_keeps_its_network_with_pruned_weights_exactly_zero(filled_store):
    run_id = lottery_run(filled_store)
    records = filled_store.results(run_id)["results"]
    assert sorted(kept_networks.networks_of(filled_store, run_id)) == sorted((r["arm"], r["round"]) for r in records)
    checkpoint = filled_store.path(run_id) / "checkpoint"
    for r in records:
        assert r["pruned_nonzero"] == 0 and r["pruned_max_abs"] == 0.0
        net = kept_networks.network(filled_store, run_id, r["arm"], r["round"])
        kernels = net.kernels()
        for layer, mask in net.masks.items():
            assert not kernels[layer][mask == 0].any()  # exactly zero, not small
            assert mask.mean() == pytest.approx(r["layer_density"][layer])
        if r["arm"] == "ticket":  # the mask a round trained with, as the resume checkpoint holds it
            saved = np.load(checkpoint / f"round_{r['round']:02d}.npz")
            for layer, mask in net.masks.items():
                np.testing.assert_array_equal(mask, saved[f"mask/{layer}"])
        counts = net.counts()
        assert counts["nonzero_params"] == r["nonzero_params"] <= r["params"] == 266_610
        assert r["gzip_bytes"] < r["h5_bytes"]


def test_counts_of_a_known_lenet5_mask_match_a_hand_count():
    spec = networks.models.get_spec("lenet5")
    weights = [np.ones(shape, np.float32) for shape in spec.weight_shapes()]
    weights[2][:, :, :3, :] = 0.0  # conv2: half of its 5x5x6x16 kernel (1,200 of 2,400) pruned
    weights[6][:60] = 0.0  # fc2: 60 of its 120 input rows (60 x 84 = 5,040 weights) pruned
    counts = networks.Network("lenet5", "ticket", 0, weights, {}).counts()
    dense = 784 * 150 + 100 * 2400 + 400 * 120 + 120 * 84 + 84 * 10
    assert counts["dense_macs"] == dense == 416_520
    assert counts["nonzero_macs"] == dense - 100 * 1200 - 5040
    assert counts["params"] == 61_706 and counts["nonzero_params"] == 61_706 - 1200 - 5040


@pytest.mark.trains
def test_compression_report_from_the_cli(filled_store):
    run_id = lottery_run(filled_store)
    result = run_cli("compression", run_id, "--json", "--cache-dir", str(filled_store.root))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_key = {(r["arm"], r["round"]): r for r in rows}
    dense, pruned = by_key[("ticket", 0)], by_key[("ticket", 2)]
    assert dense["nonzero_params"] == 266_610 and dense["mac_reduction"] == 1.0
    # round 2 keeps 64% of fc1 and fc2 and 81% of out: the hand count of the kept weights plus biases
    kept = round(0.64 * 784 * 300) + round(0.64 * 300 * 100) + round(0.81 * 100 * 10)
    assert pruned["nonzero_params"] <= kept + 410 and pruned["nonzero_macs"] == kept
    assert pruned["compression_ratio"] > dense["compression_ratio"]
    frame = run_tables.results_frame(filled_store, [run_id])
    assert "compression_ratio" in frame and frame["compression_ratio"].notna().all()


@pytest.mark.trains
def test_exported_models_load_in_plain_tensorflow_with_the_reported_accuracy(filled_store, tmp_path):
    run_id = lottery_run(filled_store, seed=1)
    records = {(r["arm"], r["round"]): r for r in filled_store.results(run_id)["results"]}
    paths = []
    for arm, round_, fmt in (
        ("ticket", 2, "keras"),
        ("random_prune", 2, "savedmodel"),
        ("reinit", 1, "tflite"),
        ("ticket", 0, "h5"),
    ):
        result = run_cli(
            "export-model",
            run_id,
            "--arm",
            arm,
            "--round",
            str(round_),
            "--format",
            fmt,
            "--out",
            str(tmp_path / f"{arm}{round_}"),
            "--cache-dir",
            str(filled_store.root),
        )
        assert result.returncode == 0, result.stderr
        paths.append((result.stdout.strip().splitlines()[-1], records[(arm, round_)]))
    accuracies = exported_accuracies(SAMPLE_DIR, (p for p, _ in paths))
    for path, record in paths:
        assert accuracies[path] == record["early_stop_test_accuracy"], path
    again = run_cli(
        "export-model",
        run_id,
        "--arm",
        "ticket",
        "--round",
        "2",
        "--format",
        "keras",
        "--out",
        str(tmp_path / "ticket2"),
        "--cache-dir",
        str(filled_store.root),
    )
    assert again.returncode == 2 and "exists" in again.stderr  # nothing is overwritten


@pytest.mark.parametrize("damage", ["torn", "wrong shape", "symlink", "missing"])
@pytest.mark.trains
def test_a_damaged_network_file_is_one_clear_line(filled_store, tmp_path, damage):
    import shutil

    root = tmp_path / "store"
    shutil.copytree(filled_store.root, root, symlinks=True)
    from lth.runs import RunStore

    store = RunStore(root)
    run_id = lottery_run(store)
    path = store.path(run_id) / "checkpoint" / "net_ticket_01.npz"
    if damage == "torn":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "wrong shape":
        arrays = dict(np.load(path))
        arrays["weights/0"] = np.zeros((3, 3), np.float32)
        np.savez_compressed(path, **arrays)
    elif damage == "symlink":
        outside = tmp_path / "outside.npz"
        shutil.copy(path, outside)
        path.unlink()
        path.symlink_to(outside)
    else:
        path.unlink()
    with pytest.raises(networks.NetworkError):
        kept_networks.network(store, run_id, "ticket", 1)
    result = run_cli(
        "export-model",
        run_id,
        "--arm",
        "ticket",
        "--round",
        "1",
        "--out",
        str(tmp_path / "m"),
        "--cache-dir",
        str(root),
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()[-1]) < 300
    assert "Traceback" not in result.stderr and not (tmp_path / "m.keras").exists()
    assert kept_networks.network(store, run_id, "ticket", 2).round == 2  # the other networks stay readable


def test_a_mask_that_does_not_hold_fails_the_training(sample):
    from lth.device import training_device
    from lth.experiments import Lottery, MaskIntegrityError
    from lth.hparams import RunConfig

    experiment = Lottery(RunConfig(experiment="lottery", rounds=1, iterations=10), sample, training_device(), None)
    spec = networks.models.get_spec("lenet300_100")
    weights = [np.ones(shape, np.float32) for shape in spec.weight_shapes()]
    masks = {"fc1": np.ones((784, 300), np.float32)}
    masks["fc1"][0, 0] = 0.0  # pruned, yet its weight is 1: what momentum or a tolerance mask leaves behind
    record = {"arm": "ticket", "round": 1}
    with pytest.raises(MaskIntegrityError, match="1 pruned weights are not zero"):
        experiment.keep(record, masks, early_stop=weights, final=weights)
    weights[0][0, 0] = 0.0
    experiment.keep(record, masks, early_stop=weights, final=weights)
    assert record["pruned_nonzero"] == 0


@pytest.mark.trains
def test_tensorboard_event_files_hold_every_evaluation(filled_store):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_id = lottery_run(filled_store)
    metrics = run_logs.metrics_records(filled_store, run_id)
    folder = filled_store.path(run_id) / "tensorboard"
    for name in ("ticket_round00", "ticket_round02", "reinit_round01", "random_prune_round02"):
        arm, _, round_ = name.rpartition("_round")
        events = EventAccumulator(str(folder / name))
        events.Reload()
        expected = [m for m in metrics if m["arm"] == arm and m["round"] == int(round_)]
        values = [float(tf_tensor_value(e)) for e in events.Tensors("accuracy/validation")]
        assert values == pytest.approx([m["val_accuracy"] for m in expected])
        assert "density/fc1" in events.Tags()["tensors"]


def tf_tensor_value(event):
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(event.tensor_proto)


def test_mask_image_of_a_known_mask():
    from lth import analysis

    mask = np.zeros((784, 300), np.float32)
    mask[3 * 28 + 5, :7] = 1.0  # pixel (row 3, column 5) keeps 7 outgoing connections
    mask[27 * 28 + 27, 299] = 1.0  # the bottom-right pixel keeps one
    image = analysis.input_map(mask)
    assert image.shape == (28, 28) and image[3, 5] == 7 and image[27, 27] == 1 and image.sum() == 8
    overlap = analysis.overlap({"fc1": mask}, {"fc1": np.ones_like(mask)})
    assert overlap["overall"] == 1.0
    other = mask.copy()
    other[3 * 28 + 5, :4] = 0.0  # keeps 3 of the 7 and the corner: 4 of 8
    assert analysis.overlap({"fc1": mask}, {"fc1": other})["overall"] == 0.5


@pytest.mark.trains
def test_the_tfmot_pruned_network_exports_stripped_with_its_reported_accuracy(tmp_path):
    from lth import model_export
    from lth.checkpoint import RoundCheckpoint
    from lth.hparams import RunConfig
    from lth.runner import run_experiment

    config = RunConfig(experiment="tfmot", model="lenet5", target_density=0.2, iterations=100, eval_every=50)
    summary = run_experiment(config, checkpoint=RoundCheckpoint(tmp_path / "run"))
    pruned = next(r for r in summary["results"] if r["arm"] == "pruned")
    assert pruned["pruned_nonzero"] == 0 and pruned["nonzero_params"] < pruned["params"]
    net = networks.load(tmp_path / "run", "lenet5", "pruned", 0)
    assert set(net.masks) == {"fc1", "fc2"}
    for layer, mask in net.masks.items():
        assert not net.kernels()[layer][mask == 0].any()
    path = model_export.save(net, "keras", tmp_path / "pruned")
    accuracy = exported_accuracies(SAMPLE_DIR, [path])[str(path)]
    assert accuracy == pruned["early_stop_test_accuracy"]
    # a plain Keras model: no tfmot wrapper layers in the file
    import zipfile

    assert "prune_low_magnitude" not in zipfile.ZipFile(path).read("config.json").decode()
