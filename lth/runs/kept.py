"""The trained networks a run keeps (lth.networks), read through the store's checks: a missing or foreign
file is a NetworkError naming it."""

from __future__ import annotations

from lth import networks


def networks_of(store, run_id: str) -> list[tuple[str, int]]:
    """(arm, round) of the trained networks the run keeps."""
    return networks.kept(store.checkpoint_dir(run_id, create=False))


def sparsest_round(store, run_id: str, arm: str) -> int | None:
    """The last (sparsest) round of `arm` the run keeps a network of, or None where it keeps none."""
    return max((r for a, r in networks_of(store, run_id) if a == arm), default=None)


def _recorded(store, run_id: str, round_: int) -> list[dict]:
    """The result records that name round `round_`'s networks: a finished run's results, else the round's
    checkpoint records once the round is complete (none while it trains, or where its file is not one the run
    wrote)."""
    from lth.checkpoint import CheckpointError, RoundCheckpoint

    summary = store.finished_results(run_id)  # a corrupt run: raised
    if summary is not None:
        return summary["results"]
    try:
        return RoundCheckpoint(store.checkpoint_dir(run_id, create=False)).round_records(round_) or []
    except CheckpointError:
        return []


def network(store, run_id: str, arm: str, round_: int) -> networks.Network:
    """One kept network (weights at early stop and mask), checked against the sha256 its record carries and
    the model's shapes; NetworkError if missing, unrecorded or wrong. Every reader (export-model, analyze, the
    Masks page, an instability run's ticket masks) comes through here."""
    _, config = store.config_and_record(run_id)
    folder = store.checkpoint_dir(run_id, create=False)
    found = networks.kept(folder)
    if (arm, round_) not in found:
        listed = (
            ", ".join(f"{a} round {r}" for a, r in found) or "none (made before networks were kept, or not trained yet)"
        )
        raise networks.NetworkError(f"run {run_id} keeps no network for {arm} round {round_}; it keeps: {listed}")
    records = _recorded(store, run_id, round_)
    sha256 = next((r.get("network_sha256") for r in records if (r["arm"], r["round"]) == (arm, round_)), None)
    if sha256 is None:
        raise networks.NetworkError(
            f"no result record of run {run_id} names {networks.net_file(arm, round_)} by its "
            f"sha256 (its round has not finished, or the run was made before networks "
            f"carried one): it is not read"
        )
    net = networks.load(folder, config.model_key, arm, round_, sha256)
    if arm != "dense" and set(net.masks) != set(config.prunable_layers):  # every pruned training keeps its mask
        raise networks.NetworkError(
            f"{networks.net_file(arm, round_)} does not hold the masks of the layers run "
            f"{run_id} prunes ({', '.join(config.prunable_layers)})"
        )
    return net


def theta0(store, run_id: str) -> list:
    """The run's initial weights, checked against the sha256 its results carry (a finished run) or
    weights.json (a run still training); NetworkError if it keeps none or they are wrong."""
    from lth.checkpoint import RoundCheckpoint

    _, config = store.config_and_record(run_id)
    folder = store.checkpoint_dir(run_id, create=False)
    summary = store.finished_results(run_id)
    sha256 = summary.get("weights_sha256") if summary is not None else RoundCheckpoint(folder).weights_sha256()
    if sha256 is None:
        why = "made before they were recorded" if summary is not None else "damaged, or not written yet"
        raise networks.NetworkError(f"run {run_id} records no sha256 of its initial weights ({why}): they are not read")
    return networks.load_theta0(folder, config.model_key, sha256)


def damaged(store, run_id: str) -> list[str]:
    """The kept files of a finished run that are not the files its results record (missing, damaged or
    replaced): what `lth resume` trains again."""
    from lth import paths
    from lth.fsutil import file_sha256

    summary = store.finished_results(run_id)
    if summary is None:
        return []
    folder = store.checkpoint_dir(run_id, create=False)
    wanted = {
        networks.net_file(r["arm"], r["round"]): r["network_sha256"]
        for r in summary["results"]
        if r.get("network_sha256")
    }
    if summary.get("weights_sha256"):
        wanted[paths.WEIGHTS] = summary["weights_sha256"]
    bad = []
    for name, sha256 in wanted.items():
        try:
            ok = file_sha256(folder / name, networks.MAX_NET_BYTES) == sha256
        except OSError:
            ok = False
        if not ok:
            bad.append(paths.in_checkpoint(name))
    return bad
