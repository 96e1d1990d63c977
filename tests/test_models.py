"""The networks: every registered model's declared kernel shapes are the shapes its built model has; Frankle &
Carbin's Conv-2/4/6 prune their conv layers at their own rate (the paper's per-network default, or
--conv-prune-rate), fully connected layers at --prune-rate and the output at --output-prune-rate, in the
lottery ladder and the one-shot layerwise split; networks whose conv layers followed --prune-rate keep their
run ids."""

import math

import pytest

from lth import models
from lth.hparams import ConfigError, RunConfig, run_id


@pytest.mark.parametrize("name", list(models.MODELS))
def test_a_models_declared_shapes_are_its_built_shapes(name):
    spec = models.get_spec(name)
    model = models.build(name, 0)
    assert [tuple(w.shape) for w in model.get_weights()] == spec.weight_shapes(), name
    assert tuple(model.input_shape[1:]) == spec.input_shape, name
    assert [layer.name for layer in model.layers if layer.get_weights()] == list(spec.layer_names), name
    for layer in spec.layer_names:  # output positions: where a conv kernel is applied per example
        kernel = model.get_layer(layer)
        if spec.is_conv(layer):
            assert spec.positions[layer] == math.prod(kernel.output.shape[1:-1]), (name, layer)


def test_conv_nets_are_the_papers():
    shapes = models.get_spec("conv6").kernel_shapes
    assert [s[-1] for n, s in shapes.items() if n.startswith("conv")] == [64, 64, 128, 128, 256, 256]
    assert shapes["fc1"] == (3 * 3 * 256, 256) and shapes["fc2"] == (256, 256) and shapes["out"] == (256, 10)
    assert models.get_spec("conv2").kernel_shapes["fc1"] == (14 * 14 * 64, 256)
    assert {n: models.get_spec(n).conv_prune_rate for n in ("conv2", "conv4", "conv6")} == {
        "conv2": 0.1,
        "conv4": 0.1,
        "conv6": 0.15,
    }


@pytest.mark.parametrize("model, conv_rate", [("conv2", None), ("conv6", None), ("conv4", 0.25)])
def test_the_ladder_prunes_each_kind_of_layer_at_its_rate(model, conv_rate):
    config = RunConfig(experiment="lottery", model=model, rounds=5, conv_prune_rate=conv_rate).validate()
    spec = config.spec
    rate = {"conv": conv_rate or spec.conv_prune_rate, "fc": 0.2, "out": 0.1}
    for step in config.plan.density_ladder():
        for layer, density in step["layer_density"].items():
            kind = "out" if layer == "out" else "conv" if spec.is_conv(layer) else "fc"
            size = math.prod(spec.kernel_shapes[layer])
            kept = size
            for _ in range(step["round"]):  # each round removes its rate of what is left, rounded half up
                kept -= int(rate[kind] * kept + 0.5)
            assert round(density * size) == kept, (model, step["round"], layer)


def test_the_oneshot_layerwise_split_uses_the_conv_rate():
    config = RunConfig(experiment="oneshot", model="conv2", densities=(0.2,), scope="layerwise").validate()
    counts = config.plan.keep_counts(0.2)
    shapes = config.prunable_shapes()
    share = {n: counts[n] / math.prod(s) for n, s in shapes.items()}
    assert share["conv1"] > share["fc1"] and share["out"] > share["fc1"]  # conv and output pruned more gently


def test_a_conv_rate_only_where_conv_layers_are_pruned_layerwise():
    for kwargs in ({}, {"model": "lenet5"}, {"model": "conv2", "scope": "global"}):
        with pytest.raises(ConfigError, match="--conv-prune-rate applies"):
            RunConfig(experiment="lottery", conv_prune_rate=0.1, **kwargs).validate()
    RunConfig(experiment="lottery", model="lenet5", prunable=("conv1", "fc1"), conv_prune_rate=0.1).validate()


def test_networks_whose_conv_layers_followed_the_prune_rate_keep_their_ids():
    """Ids computed before the conv rate existed (lenet5 with its conv layers pruned)."""
    fingerprint = "0123456789abcdef"
    assert (
        run_id(
            RunConfig(experiment="lottery", model="lenet5", prunable=("conv1", "conv2", "fc1", "fc2"), rounds=3),
            fingerprint,
        )
        == "edd209e45dfae31d"
    )
    assert (
        run_id(
            RunConfig(experiment="oneshot", model="lenet5", prunable=("conv1", "fc1", "fc2", "out"), densities=(0.2,)),
            fingerprint,
        )
        == "3718c6d03d731b17"
    )
    assert (
        run_id(
            RunConfig(experiment="tfmot", model="lenet5", prunable=("conv2", "fc1"), target_density=0.2), fingerprint
        )
        == "01728fa463757920"
    )
    # the same rate given explicitly is the same run; another rate is another run
    same = RunConfig(
        experiment="lottery", model="lenet5", prunable=("conv1", "conv2", "fc1", "fc2"), rounds=3, conv_prune_rate=0.2
    )
    assert run_id(same, fingerprint) == "edd209e45dfae31d"
    other = RunConfig(experiment="lottery", model="conv2", rounds=3)
    assert run_id(other, fingerprint) != run_id(
        RunConfig(experiment="lottery", model="conv2", rounds=3, conv_prune_rate=0.15), fingerprint
    )
    assert run_id(other, fingerprint) == run_id(
        RunConfig(experiment="lottery", model="conv2", rounds=3, conv_prune_rate=0.1), fingerprint
    )


@pytest.mark.trains
def test_a_conv_net_lottery_run_end_to_end(tmp_path, capsys):
    """Conv-2 on the bundled sample: a round of iterative pruning with its reinit control, each layer at its
    kind's rate, pruned weights exactly zero (the run fails otherwise), the ticket reset to theta0."""
    import json

    from conftest import cli_in_process

    code, out, err = cli_in_process(
        capsys,
        "run",
        "--experiment",
        "lottery",
        "--model",
        "conv2",
        "--rounds",
        "1",
        "--controls",
        "reinit",
        "--iterations",
        "20",
        "--eval-every",
        "10",
        "--cache-dir",
        tmp_path,
    )
    assert code == 0, err
    records = {(r["arm"], r["round"]): r for r in json.loads(out.strip().splitlines()[-1])["results"]}
    assert set(records) == {("ticket", 0), ("ticket", 1), ("reinit", 1)}
    layers = records[("ticket", 1)]["layer_density"]
    assert layers["conv1"] == pytest.approx(0.9, abs=0.002) and layers["fc1"] == pytest.approx(0.8, abs=1e-6)
    assert layers["out"] == pytest.approx(0.9, abs=1e-6)
    assert records[("ticket", 1)]["pruned_nonzero"] == 0 and records[("reinit", 1)]["pruned_nonzero"] == 0


def test_the_conv2_preset_is_the_budget_its_description_states():
    from lth import presets
    from lth.hparams import check_run

    preset = presets.PRESETS["frankle-carbin-conv2"]
    configs = preset.configs("full", "fashion-mnist")
    assert len(configs) == 6 and {c.rewind for c in configs} == {"init", presets.CONV2_REWIND}
    assert sum(c.plan.trainings() for c in configs) == 78
    last = configs[0].plan.density_ladder()[-1]
    assert (
        round(100 * last["layer_density"]["fc1"], 1) == 26.2 and round(100 * last["layer_density"]["conv1"], 1) == 53.0
    )
    assert 1.7 * 3600 < preset.estimate_seconds("full", configs) < 2.3 * 3600  # "about 2 hours" on this CPU
    for config in preset.configs("quick"):
        check_run(config)  # the quick budget runs on the bundled sample as it is
