"""The Ray executor against a real multi-node Ray cluster on this machine (loopback only)."""

import json
import os

import pytest

from conftest import cli_in_process, run_cli, wait_for
from lth.hparams import RunConfig
from lth.runs import RunStore
from lth.runs import kept as kept_networks
from lth.runs import logs as run_logs

ray = pytest.importorskip("ray", reason="Ray is optional; make test installs requirements-ray.txt")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one cluster at a time: every Ray test on one worker
# Keep every Ray address on 127.0.0.1: Ray otherwise swaps loopback for the machine's interface address.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
TINY = ["--experiment", "lottery", "--rounds", "1", "--iterations", "80", "--eval-every", "40"]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "node_ip_address": "127.0.0.1"})
    nodes = [c.add_node(num_cpus=1, node_ip_address="127.0.0.1") for _ in range(2)]
    c.wait_for_nodes()
    yield c, nodes
    c.shutdown()


def submit(store, address, *args):
    result = run_cli("submit", *args, "--executor", "ray", "--ray-address", address, "--cache-dir", str(store.root))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def results_without_times(summary):
    return [{k: v for k, v in r.items() if k != "train_seconds"} for r in summary["results"]]


def test_cluster_command_and_bad_addresses(cluster, tmp_path):
    c, _ = cluster
    info = run_cli("cluster", "--ray-address", c.address)
    assert info.returncode == 0, info.stderr
    data = json.loads(info.stdout)
    assert sum(n["alive"] for n in data["nodes"]) == 3 and data["cpus"] == 2
    for command in ("submit", "run"):  # nothing is queued for a cluster that does not answer
        bad = run_cli(
            command,
            *TINY,
            "--executor",
            "ray",
            "--ray-address",
            "127.0.0.1:1",
            "--cache-dir",
            str(tmp_path / "refused"),
        )
        assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0, bad.stderr
        assert "cannot reach a Ray cluster at 127.0.0.1:1" in bad.stderr
        assert RunStore(tmp_path / "refused").run_ids() == []
    refused = run_cli("cluster", "--ray-address", "127.0.0.1:1")
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0
    assert "cannot reach a Ray cluster at 127.0.0.1:1" in refused.stderr


def test_sweep_on_ray_matches_local_and_uses_both_nodes(cluster, tmp_path, capsys):
    c, nodes = cluster
    store = RunStore(tmp_path / "ray")
    result = run_cli(
        "sweep",
        *TINY,
        "--seeds",
        "0,1",
        "--executor",
        "ray",
        "--ray-address",
        c.address,
        "--cache-dir",
        str(store.root),
    )
    assert result.returncode == 0, result.stderr
    ids = result.stdout.split()
    assert len(ids) == 2 and "2 queued" in result.stderr
    # live metrics reach this machine's store while runs train
    wait_for(lambda: any(run_logs.metrics_records(store, r) and store.status(r)["state"] == "running" for r in ids))
    wait_for(lambda: all(store.status(r)["state"] == "done" for r in ids), timeout=300)
    used = {store.status(r)["ray_node"] for r in ids}
    assert used == {n.node_id for n in nodes}  # two one-CPU nodes, two runs at once
    local = tmp_path / "local"
    for seed, run_id in zip((0, 1), ids):  # the same runs trained here, in this process
        code, out, err = cli_in_process(capsys, "run", *TINY, "--seed", seed, "--cache-dir", local)
        assert code == 0, err
        expected = json.loads(out.splitlines()[-1])
        assert expected["run_id"] == run_id
        assert results_without_times(store.results(run_id)) == results_without_times(expected)
        assert sorted((store.path(run_id) / "checkpoint").iterdir())
        assert len(run_logs.metrics_records(store, run_id)) == 2 * 2  # two trainings, two evaluations each
    again = run_cli(
        "sweep",
        *TINY,
        "--seeds",
        "0,1",
        "--executor",
        "ray",
        "--ray-address",
        c.address,
        "--cache-dir",
        str(store.root),
    )
    assert "2 cached" in again.stderr


def test_cancel_a_ray_run_then_a_oneshot_run_trains_there(cluster, tmp_path, capsys):
    c, _ = cluster
    store = RunStore(tmp_path)
    run_id = submit(store, c.address, "--iterations", "100000", "--eval-every", "50", "--seed", "5")
    wait_for(lambda: run_logs.metrics_records(store, run_id))
    pid = store.status(run_id)["pid"]
    assert run_cli("cancel", run_id, "--cache-dir", str(store.root)).returncode == 0
    from lth.runs.processes import process_alive

    wait_for(lambda: not process_alive(pid), timeout=30)
    assert store.status(run_id)["state"] == "cancelled"
    # the cluster's CPUs come back: a new run is scheduled and finishes; a one-shot run's rounds and kept
    # networks come back from the node as a lottery run's do, its results those of the same run trained here
    oneshot = [
        "--experiment",
        "oneshot",
        "--criteria",
        "magnitude_init,snip",
        "--densities",
        "0.5,0.2",
        "--controls",
        "reinit",
        "--iterations",
        "80",
        "--eval-every",
        "40",
        "--seed",
        "6",
    ]
    other = submit(store, c.address, *oneshot)
    wait_for(lambda: store.status(other)["state"] == "done", timeout=240)
    code, out, err = cli_in_process(capsys, "run", *oneshot, "--cache-dir", tmp_path / "local")
    assert code == 0, err
    expected = json.loads(out.splitlines()[-1])
    assert expected["run_id"] == other
    assert results_without_times(store.results(other)) == results_without_times(expected)
    assert sorted(kept_networks.networks_of(store, other)) == sorted(
        (r["arm"], r["round"]) for r in expected["results"]
    )


def test_node_removed_mid_run_retries_or_fails_clearly(cluster, tmp_path, capsys):
    c, nodes = cluster
    store = RunStore(tmp_path)
    args = ["--experiment", "lottery", "--rounds", "1", "--iterations", "3000", "--eval-every", "100", "--seed", "8"]
    run_id = submit(store, c.address, *args)
    node_id = wait_for(lambda: store.status(run_id).get("ray_node"))
    wait_for(lambda: len(run_logs.metrics_records(store, run_id)) >= 3)
    victim = next(n for n in nodes if n.node_id == node_id)
    c.remove_node(victim)
    try:
        status = wait_for(lambda: (s := store.status(run_id))["state"] not in ("queued", "running") and s, timeout=300)
        if status["state"] == "done":  # Ray retried the task on the other node
            assert status["ray_attempts"] >= 2 and status["ray_node"] != node_id
            code, out, err = cli_in_process(capsys, "run", *args, "--cache-dir", tmp_path / "local")
            assert code == 0, err
            expected = json.loads(out.splitlines()[-1])
            assert results_without_times(store.results(run_id)) == results_without_times(expected)
            keys = [(m["arm"], m["round"], m["iteration"]) for m in run_logs.metrics_records(store, run_id)]
            assert len(keys) == len(set(keys))  # the retry's evaluations replaced the lost attempt's
        else:
            assert status["state"] == "failed" and "Ray task failed" in status["error"]
    finally:
        nodes.remove(victim)
        nodes.append(c.add_node(num_cpus=1, node_ip_address="127.0.0.1"))
        c.wait_for_nodes()


def test_unreachable_cluster_says_the_way_out_and_resume_uses_the_executor_chosen_now(tmp_path):
    import socket

    from lth.runs import schedule, submit

    store = RunStore(tmp_path / "store")
    listener = socket.create_server(("127.0.0.1", 0))  # answers at submission, gone when the run starts
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    run_id = submit(
        RunConfig(iterations=60, eval_every=30, seed=77), store=store, start=False, executor="ray", ray_address=address
    ).run_id
    listener.close()
    schedule(store)
    status = wait_for(lambda: (s := store.status(run_id))["state"] == "failed" and s, timeout=120)
    assert f"cannot reach a Ray cluster at {address}" in status["error"] and "resume" in status["error"]
    resumed = run_cli("resume", run_id, "--executor", "local", "--cache-dir", str(store.root))
    assert resumed.returncode == 0, resumed.stderr
    done = wait_for(lambda: (s := store.status(run_id))["state"] in ("done", "failed") and s, timeout=120)
    assert done["state"] == "done" and done["executor"] == "local"


def test_a_users_network_and_arrays_train_on_the_cluster_as_here(cluster, tmp_path, capsys):
    """The builder's module travels with the task (its source, read where its user named it): the cluster's
    run of a user's Conv1D network on a user's .npz equals the same run trained here."""
    import numpy as np

    c, _ = cluster
    nets = tmp_path / "nets.py"
    nets.write_text(
        "from lth.tf_setup import keras\n\n\n"
        "def conv(input_shape, classes, init):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = keras.layers.Conv1D(4, 3, activation='relu', kernel_initializer=init('conv1'), name='conv1')(inputs)\n"
        "    x = keras.layers.Flatten()(x)\n"
        "    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init('out'), name='out')(x))\n"
    )
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = (rng.normal(size=(400, 16, 2)) + y[:, None, None]).astype(np.float32)
    np.savez(tmp_path / "blobs.npz", x_train=x, y_train=y, x_test=x[:100], y_test=y[:100])
    own = ["--model", f"{nets}:conv", "--dataset", "blobs", "--data-file", str(tmp_path / "blobs.npz"), *TINY]
    store = RunStore(tmp_path / "ray")
    run_id = submit(store, c.address, *own)
    wait_for(lambda: store.status(run_id)["state"] in ("done", "failed"), timeout=300)
    assert store.status(run_id)["state"] == "done", store.status(run_id).get("error")
    code, out, err = cli_in_process(capsys, "run", *own, "--cache-dir", tmp_path / "local")
    assert code == 0, err
    expected = json.loads(out.splitlines()[-1])
    assert expected["run_id"] == run_id
    there, here = results_without_times(store.results(run_id)), results_without_times(expected)
    differing = [sorted(k for k in a if a[k] != b.get(k)) for a, b in zip(there, here)]
    assert there == here, differing
