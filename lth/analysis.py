"""What a run's masks and weights look like: the first layer's mask as an image, per-layer density per
round, the initial (theta0) and dense-trained weights of the survivors against the pruned, and how much
masks overlap between rounds and between seeds. Pure NumPy and Plotly over the networks a run keeps
(lth.networks), so the dashboard shows them without TensorFlow."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lth.networks import Network
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables


def input_map(mask: np.ndarray, input_shape: tuple[int, ...] = (28, 28, 1)) -> np.ndarray:
    """Surviving outgoing connections of each input pixel of a Dense layer reading the flattened images of
    `input_shape` (HxWxC; channels summed), as an HxW image."""
    height, width = input_shape[0], input_shape[1] if len(input_shape) > 1 else 1
    if mask.ndim != 2 or mask.shape[0] != math.prod(input_shape):
        raise ValueError(
            f"a mask of shape {mask.shape} is not a first layer on {'x'.join(map(str, input_shape))} inputs"
        )
    return mask.sum(axis=1).reshape(height, width, -1).sum(axis=2)


def first_pixel_layer(net: Network) -> str | None:
    """The pruned layer that reads the image's pixels directly, if any (lenet300_100's fc1)."""
    for name, mask in net.masks.items():
        if mask.ndim == 2 and mask.shape[0] == math.prod(net.spec.input_shape):
            return name
    return None


def network_name(config, arm: str, round_: int) -> str:
    """A kept network as a reader names it: "ticket round 3", or "synflow at 3.6% density" for a one-shot run
    (whose records' round is only its density's place in the list)."""
    if getattr(config, "experiment", None) == "oneshot":
        densities = config.plan.ordered_densities()
        if 0 < round_ <= len(densities):
            return f"{arm} at {100 * densities[round_ - 1]:.3g}% density"
        if round_ == 0:
            return f"{arm} (dense)"
    return f"{arm} round {round_}"


def mask_heatmap(net: Network, name: str | None = None) -> go.Figure:
    layer = first_pixel_layer(net)
    if layer is None:
        raise ValueError(f"{net.model} prunes no layer that reads the pixels, so its mask has no image")
    image = input_map(net.masks[layer], net.spec.input_shape)
    outputs = net.masks[layer].shape[1]
    # Scaled to what the mask holds, 0 to its most-kept pixel: a fixed 0-to-fan-out scale drew a 0.3%-dense mask
    # as a uniformly dark square. The title and colour bar say the scale (and the fan-out), so rounds compare by
    # their numbers; a dense mask still spans 0 to the fan-out.
    top = max(1, int(image.max()))
    fig = go.Figure(
        go.Heatmap(
            z=image[::-1],
            colorscale="Viridis",
            zmin=0,
            zmax=top,
            colorbar={"title": {"text": f"kept (of {outputs})"}},
            hovertemplate="pixel (%{x}, %{y}): %{z} of " + f"{outputs} kept<extra></extra>",
        )
    )
    fig.update_layout(
        title={
            "text": f"{layer}: connections kept per input pixel (scale 0 to {top} of {outputs}) · "
            f"{name or f'{net.arm} round {net.round}'} ({100 * net.masks[layer].mean():.3g}% of {layer})"
        },
        width=560,
        height=520,
        plot_bgcolor="white",
        yaxis={"scaleanchor": "x", "showticklabels": False, "showgrid": False},
        xaxis={"showticklabels": False, "showgrid": False},
    )
    return fig


def layer_density_frame(records: list[dict], arm: str = "ticket") -> pd.DataFrame:
    rows = [
        {"round": r["round"], "layer": layer, "density": density}
        for r in records
        if r["arm"] == arm
        for layer, density in r.get("layer_density", {}).items()
    ]
    return pd.DataFrame(rows, columns=["round", "layer", "density"])


def layer_density_figure(records: list[dict], arm: str = "ticket", by_density: bool = False) -> go.Figure:
    """Per-layer density of an arm per round, or (`by_density`: a one-shot run) against its overall density; an
    emptied layer sits on the floor, labelled so."""
    from lth.figures import density_axis, log_ticks

    frame = layer_density_frame(records, arm)
    overall = {r["round"]: 100 * r["density"] for r in records if r["arm"] == arm}
    floor = 1e-2  # % kept: where an emptied layer is drawn on the log axis
    fig = go.Figure()
    for layer, group in frame.groupby("layer", sort=False):
        x = [overall.get(r) for r in group["round"]] if by_density else group["round"]
        fig.add_trace(go.Scatter(x=x, y=(100 * group["density"]).clip(lower=floor), mode="lines+markers", name=layer))
    ticks = log_ticks(floor, max(100.0, float(100 * frame["density"].max()) if len(frame) else 100.0))
    if ticks:
        ticks["ticktext"] = ["emptied" if v <= floor else f"{v:g}%" for v in ticks["tickvals"]]
    fig.update_layout(
        title={"text": f"per-layer density of {arm} " + ("at each density" if by_density else "per round")},
        xaxis=density_axis(overall.values()) if by_density else {"title": {"text": "round"}, "dtick": 1},
        yaxis={"title": {"text": "density (% kept)"}, "type": "log", **ticks},
        height=380,
    )
    return fig


def weight_histograms(
    values: dict[str, np.ndarray], masks: dict[str, np.ndarray], title: str, x_title: str, bins: int = 60
) -> go.Figure:
    """One panel per pruned layer: histogram (density-normalised) of `values` of the kept weights against
    the pruned ones."""
    layers = list(masks)
    fig = make_subplots(rows=1, cols=len(layers), subplot_titles=layers)
    for col, layer in enumerate(layers, start=1):
        all_values = values[layer].ravel()
        edges = np.linspace(float(all_values.min()), float(all_values.max()), bins + 1)
        for kept, colour in ((True, "#1f77b4"), (False, "#bbbbbb")):
            v = values[layer][(masks[layer] > 0) == kept]
            if v.size == 0:
                continue
            counts, _ = np.histogram(v, bins=edges, density=True)
            fig.add_trace(
                go.Bar(
                    x=(edges[:-1] + edges[1:]) / 2,
                    y=counts,
                    width=np.diff(edges),
                    marker_color=colour,
                    opacity=0.7,
                    name="kept" if kept else "pruned",
                    legendgroup="kept" if kept else "pruned",
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text=x_title, row=1, col=col)
    fig.update_layout(title={"text": title}, barmode="overlay", height=360, yaxis_title="density")
    return fig


def overlap(mask_a: dict[str, np.ndarray], mask_b: dict[str, np.ndarray]) -> dict[str, float]:
    """Per layer and overall: the fraction of `mask_a`'s kept weights that `mask_b` keeps too; NaN (undefined, not
    0) for a layer `mask_a` emptied."""
    out, both, kept = {}, 0.0, 0.0
    for layer, a in mask_a.items():
        b = mask_b[layer]
        shared = float(np.sum((a > 0) & (b > 0)))
        out[layer] = shared / float(a.sum()) if a.sum() else math.nan
        both, kept = both + shared, kept + float(a.sum())
    out["overall"] = both / kept if kept else math.nan
    return out


def round_overlaps(masks_by_round: dict[int, dict[str, np.ndarray]]) -> pd.DataFrame:
    """For each round r > 0: the fraction of r's kept weights that round r-1 kept (1 for nested masks,
    as iterative magnitude pruning makes them)."""
    rows = []
    rounds = sorted(masks_by_round)
    for previous, current in zip(rounds, rounds[1:]):
        rows.append(
            {"round": current, "against_round": previous, **overlap(masks_by_round[current], masks_by_round[previous])}
        )
    return pd.DataFrame(rows)


def seed_overlap(mask_a: dict[str, np.ndarray], mask_b: dict[str, np.ndarray]) -> dict[str, float]:
    """Overlap of two seeds' masks at the same density, with what independent random masks of the same
    per-layer densities would share by chance (the other mask's density)."""
    result = overlap(mask_a, mask_b)
    chance = {f"chance_{layer}": float(b.mean()) for layer, b in mask_b.items()}
    kept = sum(float(a.sum()) for a in mask_a.values())
    chance["chance_overall"] = (
        sum(float(mask_a[layer].sum()) * float(b.mean()) for layer, b in mask_b.items()) / kept if kept else math.nan
    )
    return {**result, **chance}


def same_but_seed(store, run_id: str, config) -> bool:
    """Whether run `run_id` has `config`'s settings but for the seed (its masks are comparable)."""
    try:
        other = store.config_and_record(run_id)[1]
    except Exception:  # a corrupt run is not comparable; the Runs page reports it
        return False
    return other.canonical() | {"seed": 0} == config.canonical() | {"seed": 0}


def run_analysis(store, run_id: str, arm: str, round_: int, other_seed: str | None = None) -> tuple[dict, dict]:
    """Figures {name: figure} and tables {name: DataFrame} of one kept network of a run: its mask image
    (models reading pixels in a pruned layer), per-layer density per round, theta0 and dense-trained weights
    of the kept against the pruned, mask overlap between rounds and with `other_seed`'s run at this round.
    Raises NetworkError when the network is not kept."""
    net = kept_networks.network(store, run_id, arm, round_)
    config = store.config_and_record(run_id)[1]
    name = network_name(config, arm, round_)
    summary = store.results(run_id) or run_tables.completed_rounds_summary(store, run_id) or {"results": []}
    records = summary["results"]
    figures, tables = {}, {}
    if (pixel_layer := first_pixel_layer(net)) is not None:
        figures["mask_heatmap"] = mask_heatmap(net, name)
        tables["mask_heatmap"] = pd.DataFrame(input_map(net.masks[pixel_layer]).astype(int))
    density_arm = arm if any(r["arm"] == arm and r.get("layer_density") for r in records) else "ticket"
    if any(r.get("layer_density") for r in records):
        figures["layer_density"] = layer_density_figure(records, density_arm, config.experiment == "oneshot")
        tables["layer_density"] = layer_density_frame(records, density_arm)
    if net.masks:
        theta0 = Network(net.model, arm, 0, kept_networks.theta0(store, run_id), {}).kernels()
        figures["theta0_histograms"] = weight_histograms(
            theta0, net.masks, f"initial weights (theta0) of the kept and the pruned · {name}", "theta0"
        )
        kept_nets = kept_networks.networks_of(store, run_id)
        # the run's own dense network: a lottery run's round 0, a one-shot run's dense training (tfmot: none)
        dense = store.config_and_record(run_id)[1].plan.dense_record
        dense = dense if dense in kept_nets else None
        if dense is not None:
            trained = {k: np.abs(v) for k, v in kept_networks.network(store, run_id, *dense).kernels().items()}
            figures["trained_histograms"] = weight_histograms(
                trained,
                net.masks,
                f"|trained weights| of the dense network, split by the mask of {name}",
                "|w| after dense training",
            )
        masks_by_round = {
            r: net.masks if r == round_ else kept_networks.network(store, run_id, a, r).masks
            for a, r in kept_nets
            if a == arm and r > 0
        }
        if len(masks_by_round) > 1:
            tables["round_overlap"] = round_overlaps(masks_by_round)
        if other_seed is not None:
            from lth.networks import NetworkError

            if not store.exists(other_seed):
                raise NetworkError(f"no run {other_seed} in {store.root}")
            if other_seed == run_id or not same_but_seed(store, other_seed, store.config_and_record(run_id)[1]):
                raise NetworkError(
                    f"run {other_seed} is not this run with another seed (model, data or settings "
                    f"differ): its masks cannot be compared"
                )
            other = kept_networks.network(store, other_seed, arm, round_)
            tables["seed_overlap"] = pd.DataFrame(
                [{"run": run_id, "other_run": other_seed, **seed_overlap(net.masks, other.masks)}]
            )
    return figures, tables
