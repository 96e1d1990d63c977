"""The Ray executor: a run trains as one Ray task on a cluster; everything it produces (evaluations,
checkpoint files, results) travels back through Ray into the run store of the submitting machine.

On the submitting machine a supervisor process per run (the same `python -m lth worker RUN_ID` the
local executor uses, so pid/heartbeat liveness, cancel and the queue work unchanged) connects to the
cluster as a driver, starts the task and writes what arrives. No shared filesystem is needed: the
`lth` package travels with the task (`py_modules`); the cluster's nodes need the packages of
requirements.txt. A node that dies mid-run makes Ray retry the task elsewhere (`max_retries`); a
retried lottery run starts from the rounds the store holds. Ray itself is optional
(requirements-ray.txt); nothing imports it unless a run or a page asks for this executor.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from lth import paths
from lth.fsutil import write_bytes_atomic
from lth.networks import NET_FILE
from lth.runs import trust
from lth.runs.executors import RAY_MISSING, ExecutorError, unreachable
from lth.runs.store import RunStore
from lth.runs.supervise import completed_rounds, restart_metrics, supervise, versions

TASK_RETRIES = 2  # a node lost mid-run: Ray runs the task again on another node, twice at most
PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent  # the `lth` package travels with the task
# The only files a task may send back into a run's checkpoint folder (names come from the cluster).
CHECKPOINT_FILE = re.compile(rf"{paths.CHECKPOINT_INPUTS.pattern}|{NET_FILE.pattern}")


def _ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(RAY_MISSING) from None
    return ray


def _check_reachable(address: str) -> None:
    problem = unreachable(address)
    if problem:
        raise ExecutorError(problem)


def connect(address: str | None):
    """ray.init as a driver of the cluster at `address` ("auto": $RAY_ADDRESS or a local cluster)."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    address = address or "auto"
    if address == "auto" and os.environ.get("RAY_ADDRESS"):
        _check_reachable(os.environ["RAY_ADDRESS"])
    elif address != "auto":
        _check_reachable(address)
    try:
        ray.init(
            address=address,
            logging_level="ERROR",
            log_to_driver=False,
            runtime_env={"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__"]},
        )
    except Exception as e:  # ConnectionError, ValueError for a malformed address, RuntimeError
        raise ExecutorError(f"cannot reach a Ray cluster at {address}: {str(e).splitlines()[0]}") from None
    return ray


def cluster_info(address: str | None) -> dict:
    """Nodes, CPUs and GPUs of the cluster (for the dashboard and `python -m lth cluster`)."""
    ray = connect(address)
    nodes = [
        {
            "node_id": n["NodeID"],
            "address": n.get("NodeManagerAddress"),
            "alive": n["Alive"],
            "cpus": n["Resources"].get("CPU", 0),
            "gpus": n["Resources"].get("GPU", 0),
        }
        for n in ray.nodes()
    ]
    totals = ray.cluster_resources()
    return {"address": address or "auto", "nodes": nodes, "cpus": totals.get("CPU", 0), "gpus": totals.get("GPU", 0)}


def _train_task(record: dict, files: dict[str, bytes], sink, builder: dict | None = None) -> dict:
    """Body of the Ray task, on whatever node Ray picks: the same experiment code as the local executor. A user's
    network arrives as its module's source (`builder`), shipped by the submitter whose user chose it."""
    import ray

    from lth import builders
    from lth.checkpoint import RoundCheckpoint
    from lth.device import training_device
    from lth.hparams import RunConfig, describe_network
    from lth.networks import net_file
    from lth.runner import run_experiment

    folder = Path(tempfile.mkdtemp(prefix="lth-ray-"))
    if builder is not None:
        source = folder / "builder" / builder["file"]
        source.parent.mkdir()
        source.write_bytes(builder["source"])
        builders.adopt(builder["reference"], source)
    config = RunConfig.from_json(record["config"])
    if config.builds_own:  # its layers, for the checkpoint's checks: built here from the shipped source
        describe_network(config)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    device = training_device()
    sink.put(
        (
            "start",
            {
                "node_id": ray.get_runtime_context().get_node_id(),
                "device": device.as_dict(),
                "versions": versions(),
                "start_round": completed_rounds(config, folder),
            },
        )
    )

    class ForwardingCheckpoint(RoundCheckpoint):
        """Checkpoint files go back to the submitter as soon as they are written."""

        def _forward(self, *names):
            for name in names:
                sink.put(("file", {"name": name, "data": (self.folder / name).read_bytes()}))

        def save_weights(self, theta0, reset_point):
            sha256 = super().save_weights(theta0, reset_point)
            self._forward(paths.WEIGHTS, paths.WEIGHTS_SHA256)  # the record after the file it names
            return sha256

        def save_round(self, round_, records, masks=None, next_masks=None):
            super().save_round(round_, records, masks, next_masks)
            written = [paths.round_masks(round_)] if masks is not None else []  # one-shot rounds keep no masks
            self._forward(*written, paths.round_records(round_))  # json last: marks it done

        def save_network(self, arm, round_, weights, masks):
            sha256 = super().save_network(arm, round_, weights, masks)
            self._forward(net_file(arm, round_))
            return sha256

    checkpoint = ForwardingCheckpoint(folder)
    return run_experiment(
        config,
        data_dir=record.get("data_dir"),
        device=device,
        checkpoint=checkpoint,
        on_eval=lambda event: sink.put(("eval", event)),
        expected_fingerprint=record["dataset_fingerprint"],
    )


def _shipped_builder(config) -> dict | None:
    """A user's network travels to the cluster as its module's source, read here, where its user named it (their
    trust list is checked on this machine; the cluster's nodes need not have the file)."""
    if not config.builds_own:
        return None
    from lth import builders

    try:
        builders.check_trusted(config.model)
        path = builders.module_file(config.model)
        return {"reference": config.model, "file": path.name, "source": path.read_bytes()}
    except (builders.BuilderError, OSError) as e:
        raise ExecutorError(str(e)) from None


WAY_OUT = (
    "; start the cluster, or choose 'this machine' on the Home page (or --executor local) and resume "
    "the run: resume uses the executor chosen then"
)


def execute(run_id: str, store: RunStore, *, poll: float = 0.2, on_eval=None) -> dict:
    """Supervise one run on the cluster from this machine; returns the final status."""
    status = store.raw_status(run_id)
    address = status.get("ray_address")
    if not trust.verify(status.get("placement_sig"), run_id, "ray", address):
        raise ExecutorError(
            f"run {run_id}: its Ray address {str(address)[:60]!r} is not signed by this machine's "
            f"user (status.json edited outside the product?); resume it to choose the executor"
        )

    def train(config, record, progress):
        try:
            ray = connect(address)
        except ExecutorError as e:
            raise ExecutorError(f"{e}{WAY_OUT}") from None
        from ray.util.queue import Empty, Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        checkpoint_dir = store.checkpoint_dir(run_id)
        # The queue lives on the head node (else this driver's node): losing a worker node never loses it.
        head = next(
            (n["NodeID"] for n in ray.nodes() if n["Alive"] and "node:__internal_head__" in n["Resources"]),
            ray.get_runtime_context().get_node_id(),
        )
        sink = Queue(
            actor_options={"num_cpus": 0, "scheduling_strategy": NodeAffinitySchedulingStrategy(head, soft=True)}
        )
        files = {
            p.name: p.read_bytes()
            for p in sorted(checkpoint_dir.iterdir())
            if p.is_file() and not p.is_symlink() and paths.CHECKPOINT_INPUTS.fullmatch(p.name)
        }
        needs_gpu = ray.cluster_resources().get("GPU", 0) >= 1
        task = ray.remote(_train_task).options(
            num_gpus=1 if needs_gpu else 0, num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False
        )
        ref = task.remote(record, files, sink, _shipped_builder(config))
        attempts = 0
        try:
            while True:
                done, _ = ray.wait([ref], timeout=poll)
                waiting = sink.qsize()
                try:
                    events = sink.get_nowait_batch(waiting) if waiting else []
                except Empty:
                    events = []
                for kind, payload in events:
                    if kind == "start":  # first attempt, or Ray's retry after a lost node
                        attempts += 1
                        progress.restart(restart_metrics(store, run_id, payload["start_round"]), payload["start_round"])
                        with store.lock(run_id):
                            store.update_status(
                                run_id,
                                device=payload["device"],
                                versions=payload["versions"],
                                ray_node=payload["node_id"],
                                ray_attempts=attempts,
                            )
                    elif kind == "eval":
                        progress.record(payload)
                    elif kind == "file":
                        name = payload.get("name")
                        if not isinstance(name, str) or not CHECKPOINT_FILE.fullmatch(name):
                            raise ExecutorError(f"the Ray task sent a file named {str(name)[:60]!r}; refused")
                        write_bytes_atomic(checkpoint_dir / name, payload["data"])
                if done and sink.qsize() == 0:
                    break
            return ray.get(ref)
        except ray.exceptions.RayError as e:
            ray.cancel(ref, force=True)
            cause = getattr(e, "cause", None)  # a task's own exception: its reason, not Ray's header line
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else str(e).splitlines()[0]
            raise ExecutorError(
                f"the Ray task failed after {attempts} attempt(s): {' '.join(reason.split())[:400]}"
            ) from None
        except BaseException:
            ray.cancel(ref, force=True)  # cancelled or failed here: stop the remote work too
            raise
        finally:
            ray.kill(sink.actor)

    return supervise(run_id, store, train, on_eval=on_eval)
