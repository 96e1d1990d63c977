"""The qualitative result the product exists to show, on the bundled sample with a small budget:
lottery tickets stay above randomly reinitialised tickets at the lowest densities (averaged over seeds)."""

import json

import pandas as pd
import pytest

from conftest import cli_in_process

pytestmark = pytest.mark.slow


def test_ticket_beats_random_reinit_at_low_density(tmp_path, capsys):
    rows = []
    for seed in (0, 1):  # trained in this process: the CLI's `run`, without a process start each
        code, out, err = cli_in_process(
            capsys,
            "run",
            "--experiment",
            "lottery",
            "--rounds",
            "15",
            "--iterations",
            "300",
            "--eval-every",
            "100",
            "--controls",
            "reinit",
            "--seed",
            seed,
            "--cache-dir",
            tmp_path,
        )
        assert code == 0, err
        rows += json.loads(out.splitlines()[-1])["results"]
    table = pd.DataFrame(rows).pivot_table(index="round", columns="arm", values="early_stop_test_accuracy")
    lowest = table.loc[[13, 14, 15]]  # 5.6%, 4.5% and 3.6% density
    assert (lowest["ticket"] > lowest["reinit"]).all(), lowest
    assert lowest["ticket"].mean() - lowest["reinit"].mean() > 0.01, lowest
