"""The dashboard's model-export process (lth.export_service): one process with TensorFlow loaded serves every
export as `lth export-model` would, survives a bad request, and is started again when it has gone."""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, exported_accuracies, wait_for
from lth.data.datasets import SAMPLE_DIR
from lth.export_service import ExportHelper
from lth.runs.processes import process_alive


def _lottery_run(store) -> str:
    return next(r for r in sorted(store.run_ids()) if store.config_and_record(r)[1].experiment == "lottery")


@pytest.mark.trains
def test_one_process_writes_every_file_as_the_command_does_and_survives_what_goes_wrong(filled_store, tmp_path):
    store = filled_store
    run_id = _lottery_run(store)
    root = ["--cache-dir", str(store.root)]
    helper = ExportHelper()
    try:
        paths, pids = [], set()
        for fmt, arm in (("keras", "ticket"), ("tflite", "reinit")):
            out = tmp_path / f"{arm}.{fmt}"
            done = helper.run(
                [run_id, "--arm", arm, "--round", "2", "--format", fmt, "--out", str(out)]
                + ["--cache-dir", str(store.root)],
                timeout=300,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip().splitlines()[-1] == str(out) and out.stat().st_size > 1000
            paths.append(out)
            pids.add(helper.pid)
        assert len(pids) == 1 and None not in pids  # TensorFlow loaded once, for both files
        with open(f"/proc/{helper.pid}/environ", "rb") as f:  # it stays: it must hold no GPU memory
            assert b"CUDA_VISIBLE_DEVICES=-1" in f.read().split(b"\0")

        # what the command line refuses, the helper refuses with the same one line, and goes on serving
        refused = helper.run([run_id, "--arm", "nosuch", "--format", "h5", "--out", str(tmp_path / "x.h5")], 60)
        direct = subprocess.run(
            [sys.executable, "-m", "lth", "export-model", run_id, "--arm", "nosuch", "--format", "h5"]
            + ["--out", str(tmp_path / "x.h5"), "--cache-dir", str(store.root)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert refused.returncode == direct.returncode == 2
        assert refused.stderr.strip().splitlines()[-1] == direct.stderr.strip().splitlines()[-1]
        assert "nosuch" in refused.stderr and not (tmp_path / "x.h5").exists()
        exists = helper.run([run_id, "--arm", "ticket", "--format", "keras", "--out", str(paths[0])] + root, 60)
        assert exists.returncode == 2 and "exists" in exists.stderr  # never over a file
        assert helper.pid in pids

        # a helper that has gone (killed here; an idle one exits by itself) is started again for the next file
        old = helper.pid
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: not process_alive(old))
        again = helper.run(
            [run_id, "--arm", "ticket", "--round", "2", "--format", "h5", "--out", str(tmp_path / "again.h5")] + root,
            300,
        )
        assert again.returncode == 0, again.stderr
        assert helper.pid not in (None, old)
        paths.append(tmp_path / "again.h5")
    finally:
        helper.stop()
    assert helper.pid is None

    # the files score what the run reports, loaded where the product is not importable
    accuracies = exported_accuracies(SAMPLE_DIR, paths)
    records = {(r["arm"], r["round"]): r for r in store.results(run_id)["results"]}
    for path, key in zip(paths, (("ticket", 2), ("reinit", 2), ("ticket", 2))):
        assert accuracies[str(path)] == records[key]["early_stop_test_accuracy"], path


@pytest.mark.trains  # starts the helper (it imports TensorFlow)
def test_a_request_that_is_not_an_export_is_refused_in_one_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "lth.export_service"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        answers = process.communicate(
            "\n".join([json.dumps(["delete", "everything"]), "not json", json.dumps(["export-model", 7])]) + "\n",
            timeout=300,
        )[0]
    finally:
        if process.poll() is None:
            process.kill()
    lines = [json.loads(line) for line in answers.splitlines()]
    assert [a["code"] for a in lines] == [2, 2, 2] and process.returncode == 0  # stdin closed: it ends
    assert all(a["stderr"].startswith("lth export-model: ") for a in lines)
