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


def network(store, run_id: str, arm: str, round_: int) -> networks.Network:
    """One kept network (weights at early stop and mask), checked; NetworkError if missing or wrong."""
    _, config = store.config_and_record(run_id)
    folder = store.checkpoint_dir(run_id, create=False)
    found = networks.kept(folder)
    if (arm, round_) not in found:
        listed = ", ".join(f"{a} round {r}" for a, r in found) or "none (made before networks were kept, or not trained yet)"
        raise networks.NetworkError(f"run {run_id} keeps no network for {arm} round {round_}; it keeps: {listed}")
    net = networks.load(folder, config.model, arm, round_)
    if arm != "dense" and set(net.masks) != set(config.prunable_layers):  # every pruned training keeps its mask
        raise networks.NetworkError(f"{networks.net_file(arm, round_)} does not hold the masks of the layers run "
                                    f"{run_id} prunes ({', '.join(config.prunable_layers)})")
    return net


def theta0(store, run_id: str) -> list:
    """The run's initial weights (NetworkError if it keeps none or they are wrong)."""
    _, config = store.config_and_record(run_id)
    return networks.load_theta0(store.checkpoint_dir(run_id, create=False), config.model)
