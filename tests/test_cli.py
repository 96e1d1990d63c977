"""`python -m lth run` in real processes on the bundled sample."""

import gzip
import json
import shutil

import pytest

from conftest import cli_in_process, run_cli
from lth.data import datasets


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--lr", "abc"], "invalid float value"),
        (["run", "--lr", "-1"], "--lr must be above 0"),
        (["run", "--experiment", "tfmot"], "needs --target-density"),
        (["run", "--experiment", "lottery", "--rewind", "soon"], "expected 'init' or an iteration"),
        (["run", "--iterations", "5", "--epochs", "2"], "give --iterations or --epochs, not both"),
        (["run", "--batch-size", "9999", "--iterations", "5"], "exceeds the 4500 training images"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    code, _, err = cli_in_process(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err


@pytest.mark.trains
def test_a_refusal_in_a_real_process_is_one_line_and_exit_2():
    result = run_cli("run", "--lr", "-1")
    assert result.returncode == 2 and result.stderr.strip() == "lth run: error: --lr must be above 0, not -1.0"


@pytest.mark.trains
def test_corrupt_data_file_exits_2_naming_it(tmp_path):
    shutil.copytree(datasets.SAMPLE_DIR, tmp_path / "mnist")
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:-10]))
    result = run_cli("run", "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist"), "--iterations", "5")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert str(bad) in line and "truncated" in line


def _results(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.trains
def test_baseline_20_epochs_reaches_94_percent():
    result = run_cli(
        "run",
        "--experiment",
        "baseline",
        "--model",
        "lenet300_100",
        "--dataset",
        "mnist-sample",
        "--epochs",
        "20",
        "--eval-every",
        "250",
    )
    assert result.returncode == 0, result.stderr
    summary = _results(result.stdout)
    (record,) = summary["results"]
    assert summary["iterations"] == 20 * (4500 // 60)
    assert record["arm"] == "dense" and record["density"] == 1.0
    assert record["final_test_accuracy"] >= 0.94 and record["early_stop_test_accuracy"] >= 0.94
    assert summary["device"]["kind"] in ("CPU", "GPU")
    assert "it 250/1500" in result.stderr  # a progress line per evaluation


@pytest.mark.trains
def test_lottery_cli_prints_rounds_and_controls():
    result = run_cli(
        "run",
        "--experiment",
        "lottery",
        "--iterations",
        "60",
        "--eval-every",
        "30",
        "--target-density",
        "0.7",
        "--controls",
        "reinit,random_prune",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    summary = _results(result.stdout)
    rows = [(r["arm"], r["round"], round(100 * r["density"], 1)) for r in summary["results"]]
    assert rows == [
        ("ticket", 0, 100.0),
        ("ticket", 1, 80.0),
        ("random_prune", 1, 80.0),
        ("reinit", 1, 80.0),
        ("ticket", 2, 64.1),
        ("random_prune", 2, 64.1),
        ("reinit", 2, 64.1),
    ]
    for r in summary["results"]:
        assert {"layer_density", "early_stop_iteration", "early_stop_test_accuracy", "final_test_accuracy"} <= set(r)


@pytest.mark.trains
def test_tfmot_cli_prints_three_arms():
    result = run_cli(
        "run",
        "--experiment",
        "tfmot",
        "--model",
        "lenet5",
        "--target-density",
        "0.2",
        "--iterations",
        "100",
        "--eval-every",
        "50",
    )
    assert result.returncode == 0, result.stderr
    arms = [(r["arm"], round(r["density"], 3)) for r in _results(result.stdout)["results"]]
    assert arms == [("pruned", 0.2), ("ticket", 0.2), ("reinit", 0.2)]
