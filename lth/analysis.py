"""What a run's masks and weights look like: the first layer's mask in a form that fits its input (a Dense layer
on images: kept connections per input pixel, per channel; on 1-D signals: per position and channel; on
feature vectors: a bar per feature; a Conv2D or Conv1D layer: its filters' kept fraction per tap), per-layer
density per round, the initial (theta0) and dense-trained weights of the survivors against the pruned, and how
much masks overlap between rounds and between seeds. Pure NumPy and Plotly over the networks a run keeps
(lth.networks), so the dashboard shows them without TensorFlow; any network the lab trains (built in, sized from
its data, or a user's own) is drawn from its spec (lth.models.ModelSpec), and one whose first layer cannot be
pictured is said so in words, never an error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lth.networks import Network
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables

CHANNEL_PANELS = 4  # at most this many input channels get a panel of their own beside the channels' average
HISTOGRAM_COLUMNS = 4  # panels per row of the weight histograms (a deep network wraps onto more rows)
MASK_VIEWS = ("mask_heatmap", "mask_signal", "mask_features", "mask_filters")  # names of the first layer's views


def shape_words(shape) -> str:
    return "x".join(str(int(d)) for d in shape) or "scalar"


def input_map(mask: np.ndarray, input_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Surviving outgoing connections of each input pixel of a Dense layer reading the flattened images of
    `input_shape` (HxWxC; channels averaged, so a pixel's value is out of the layer's fan-out whatever C is), as
    an HxW image. Without `input_shape`, the mask's fan-in must be a square grayscale image's."""
    if input_shape is None:
        side = math.isqrt(mask.shape[0]) if mask.ndim == 2 else 0
        if side * side != (mask.shape[0] if mask.ndim == 2 else -1):
            raise ValueError(
                f"a mask of shape {mask.shape} is not a Dense layer on square images: give the input shape"
            )
        input_shape = (side, side, 1)
    if len(input_shape) == 2:  # HxW without channels
        input_shape = (*input_shape, 1)
    if mask.ndim != 2 or len(input_shape) != 3 or mask.shape[0] != math.prod(input_shape):
        raise ValueError(f"a mask of shape {mask.shape} is not a first layer on {shape_words(input_shape)} images")
    per_channel = channel_maps(mask, input_shape)
    return per_channel[..., 0] if per_channel.shape[-1] == 1 else per_channel.mean(axis=2)


def channel_maps(mask: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Kept outgoing connections of each input value of a Dense layer reading flattened inputs of `input_shape`,
    in that shape (HxWxC images, LxC signals, F features): Keras' Flatten is row-major, as NumPy's reshape."""
    return mask.sum(axis=1).reshape(input_shape)


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


@dataclass
class MaskView:
    """The first layer's mask as the page shows it: a figure and its data under `key` (one of MASK_VIEWS), or
    only `note`, the words that say why there is no picture."""

    key: str | None = None
    figure: go.Figure | None = None
    table: pd.DataFrame | None = None
    note: str | None = None


def _title(text: str, net: Network, layer: str, name: str | None) -> dict:
    mask = net.masks[layer]
    return {"text": f"{text}<br>{name or f'{net.arm} round {net.round}'} ({100 * mask.mean():.3g}% of {layer})"}


def _panels(stacked: np.ndarray, channels: int) -> list[tuple[str, np.ndarray]]:
    """(title, 2-D map) of the channels' average and, for a few channels, each channel (the last axis)."""
    if channels == 1:
        return [("", stacked[..., 0])]
    panels = [("channels averaged", stacked.mean(axis=-1))]
    if channels <= CHANNEL_PANELS:
        panels += [(f"channel {c}", stacked[..., c]) for c in range(channels)]
    return panels


def _heatmap_panels(panels, top: float, colorbar: str, hover: str, customdata=None, flip: bool = True) -> go.Figure:
    """One heatmap per panel side by side, on one colour scale 0 to `top`, pixels square."""
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels] if len(panels) > 1 else None)
    for col, (_, z) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=z[::-1] if flip else z,
                customdata=None if customdata is None else (customdata[::-1] if flip else customdata),
                colorscale="Viridis",
                zmin=0,
                zmax=top,
                showscale=col == 1,
                colorbar={"title": {"text": colorbar}},
                hovertemplate=hover,
            ),
            row=1,
            col=col,
        )
        axis = "x" if col == 1 else f"x{col}"
        fig.update_yaxes(scaleanchor=axis, showticklabels=False, showgrid=False, row=1, col=col)
        fig.update_xaxes(showticklabels=False, showgrid=False, row=1, col=col)
    return fig


def image_view(net: Network, layer: str, name: str | None = None) -> MaskView:
    """A Dense layer reading flattened HxWxC images: kept outgoing connections per input pixel, the channels
    averaged (and each channel beside it, for a few channels)."""
    mask, shape = net.masks[layer], tuple(net.spec.input_shape)
    stacked = channel_maps(mask, shape)
    outputs, channels = mask.shape[1], shape[2]
    panels = _panels(stacked, channels)
    # Scaled to what the mask holds, 0 to its most-kept pixel: a fixed 0-to-fan-out scale drew a 0.3%-dense mask
    # as a uniformly dark square. The title and colour bar say the scale (and the fan-out), so rounds compare by
    # their numbers; a dense mask still spans 0 to the fan-out.
    top = max(1, math.ceil(float(max(z.max() for _, z in panels))))
    per = "per input pixel" if channels == 1 else f"per input pixel of {channels} channels"
    fig = _heatmap_panels(
        panels, top, f"kept (of {outputs})", "pixel (%{x}, %{y}): %{z:.3g} of " + f"{outputs} kept<extra></extra>"
    )
    fig.update_layout(
        title=_title(f"{layer}: connections kept {per} (scale 0 to {top} of {outputs})", net, layer, name),
        width=max(560, 300 * len(panels)),
        height=520 if len(panels) == 1 else 440,
        margin={"t": 120},  # the two-line title above the panels' own
        plot_bgcolor="white",
    )
    if channels == 1:
        table = pd.DataFrame(stacked[..., 0].astype(int))
    else:
        rows, cols, chans = np.indices(stacked.shape)
        table = pd.DataFrame(
            {"row": rows.ravel(), "column": cols.ravel(), "channel": chans.ravel(), "kept": stacked.ravel().astype(int)}
        )
        table["of"] = outputs
    return MaskView("mask_heatmap", fig, table)


def signal_view(net: Network, layer: str, name: str | None = None) -> MaskView:
    """A Dense layer reading flattened 1-D signals of length L and C channels: kept outgoing connections per
    sample, a heatmap of channel against position."""
    mask, shape = net.masks[layer], tuple(net.spec.input_shape)
    counts = channel_maps(mask, shape)  # L x C
    outputs = mask.shape[1]
    top = max(1, math.ceil(float(counts.max())))
    fig = go.Figure(
        go.Heatmap(
            z=counts.T,
            colorscale="Viridis",
            zmin=0,
            zmax=top,
            colorbar={"title": {"text": f"kept (of {outputs})"}},
            hovertemplate="position %{x}, channel %{y}: %{z} of " + f"{outputs} kept<extra></extra>",
        )
    )
    fig.update_layout(
        title=_title(f"{layer}: connections kept per input sample (scale 0 to {top} of {outputs})", net, layer, name),
        xaxis={"title": {"text": "position along the signal"}},
        yaxis={"title": {"text": "channel"}, "dtick": 1},
        height=min(520, 240 + 24 * shape[1]),
    )
    positions, channels = np.indices(counts.shape)
    table = pd.DataFrame(
        {"position": positions.ravel(), "channel": channels.ravel(), "kept": counts.ravel().astype(int)}
    )
    table["of"] = outputs
    return MaskView("mask_signal", fig, table)


def features_view(net: Network, layer: str, name: str | None = None) -> MaskView:
    """A Dense layer whose fan-in is the input's last axis (feature vectors; or a Dense applied at every position
    of a signal or image, reading its channels): kept outgoing connections per feature, a bar each."""
    mask, shape = net.masks[layer], tuple(net.spec.input_shape)
    counts = mask.sum(axis=1)
    outputs = mask.shape[1]
    what = "feature" if len(shape) == 1 else "input channel"
    fig = go.Figure(
        go.Bar(
            x=np.arange(len(counts)),
            y=counts,
            marker_color="#1f77b4",
            hovertemplate=f"{what} " + "%{x}: %{y} of " + f"{outputs} kept<extra></extra>",
        )
    )
    fig.update_layout(
        title=_title(f"{layer}: connections kept per {what} (of {outputs})", net, layer, name),
        xaxis={"title": {"text": what}},
        yaxis={"title": {"text": f"kept (of {outputs})"}, "range": [0, outputs]},
        height=380,
    )
    table = pd.DataFrame({what.replace(" ", "_"): np.arange(len(counts)), "kept": counts.astype(int)})
    table["of"] = outputs
    return MaskView("mask_features", fig, table)


def _mosaic(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Filters `maps` (kh x kw x F) laid out on a near-square grid, a blank (NaN) line between them; and the
    grid's hover data (filter, row, column; NaN in the gaps)."""
    kh, kw, count = maps.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    canvas = np.full((rows * (kh + 1) - 1, cols * (kw + 1) - 1), np.nan)
    hover = np.full((*canvas.shape, 3), np.nan)
    tap_row, tap_col = np.indices((kh, kw))
    for f in range(count):
        top, left = (f // cols) * (kh + 1), (f % cols) * (kw + 1)
        canvas[top : top + kh, left : left + kw] = maps[..., f]
        hover[top : top + kh, left : left + kw] = np.stack([np.full((kh, kw), f), tap_row, tap_col], axis=-1)
    return canvas, hover


def conv2d_view(net: Network, layer: str, name: str | None = None) -> MaskView:
    """A Conv2D layer reading the images: each filter's kept fraction per kh x kw tap (the input channels
    averaged, and each channel beside it for a few), the filters on a grid."""
    mask = net.masks[layer]
    kh, kw, channels, filters = mask.shape
    panels = [(title, _mosaic(m)) for title, m in _panels(np.moveaxis(mask, 2, -1), channels)]
    hover = panels[0][1][1]
    fig = _heatmap_panels(
        [(title, canvas) for title, (canvas, _) in panels],
        1.0,
        "kept fraction",
        "filter %{customdata[0]:.0f}, tap (%{customdata[1]:.0f}, %{customdata[2]:.0f}): %{z:.2f} kept<extra></extra>",
        customdata=hover,
    )
    fig.update_layout(
        title=_title(
            f"{layer}: kept fraction of each of {filters} filters' {kh}x{kw} taps"
            + (f" (over {channels} input channels)" if channels > 1 else ""),
            net,
            layer,
            name,
        ),
        width=max(560, 300 * len(panels)),
        height=520 if len(panels) == 1 else 440,
        margin={"t": 120},
        plot_bgcolor="white",
    )
    fraction = mask.mean(axis=2)
    tap_row, tap_col, index = np.indices(fraction.shape)
    table = pd.DataFrame(
        {"filter": index.ravel(), "row": tap_row.ravel(), "column": tap_col.ravel(), "kept_fraction": fraction.ravel()}
    ).sort_values(["filter", "row", "column"], kind="stable")
    return MaskView("mask_filters", fig, table.reset_index(drop=True))


def conv1d_view(net: Network, layer: str, name: str | None = None) -> MaskView:
    """A Conv1D layer reading the signals: each filter's kept fraction per tap, a strip per filter (the input
    channels averaged, and each channel beside it for a few)."""
    mask = net.masks[layer]
    taps, channels, filters = mask.shape
    panels = _panels(np.moveaxis(mask, 1, -1).transpose(1, 0, 2), channels)  # filters x taps (x channels)
    fig = make_subplots(
        rows=1, cols=len(panels), subplot_titles=[t for t, _ in panels] if len(panels) > 1 else None, shared_yaxes=True
    )
    for col, (_, z) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale="Viridis",
                zmin=0,
                zmax=1,
                showscale=col == 1,
                colorbar={"title": {"text": "kept fraction"}},
                hovertemplate="filter %{y}, tap %{x}: %{z:.2f} kept<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="tap", dtick=1 if taps <= 16 else None, row=1, col=col)
    fig.update_yaxes(title_text="filter", autorange="reversed", row=1, col=1)
    fig.update_layout(
        title=_title(
            f"{layer}: kept fraction of each of {filters} filters' {taps} taps"
            + (f" (over {channels} input channels)" if channels > 1 else ""),
            net,
            layer,
            name,
        ),
        height=min(640, 240 + 14 * filters),
        width=max(560, 260 * len(panels)),
        margin={"t": 120},
    )
    fraction = mask.mean(axis=1)  # taps x filters
    tap, index = np.indices(fraction.shape)
    table = pd.DataFrame({"filter": index.ravel(), "tap": tap.ravel(), "kept_fraction": fraction.ravel()})
    return MaskView("mask_filters", fig, table.sort_values(["filter", "tap"], kind="stable").reset_index(drop=True))


def mask_view(net: Network, name: str | None = None) -> MaskView:
    """The first layer's mask in a form that fits its input, or a note saying why it has no picture. The first
    layer is the network's first prunable one (it reads the input: every network here starts with one)."""
    spec = net.spec
    shape = tuple(int(d) for d in spec.input_shape)
    inputs = f"{shape_words(shape)} inputs"
    if not spec.layer_names:
        return MaskView(note=f"{net.model} has no prunable layer, so there is no mask to picture")
    layer = spec.layer_names[0]
    if layer not in net.masks:
        pruned = ", ".join(net.masks) or "none"
        return MaskView(
            note=f"The first layer, {layer} (it reads the {inputs}), is not pruned in this run (pruned: {pruned}), so "
            f"it has no mask to picture; the densities and weights of the pruned layers are below."
        )
    mask = net.masks[layer]
    reads_flat = mask.ndim == 2 and mask.shape[0] == math.prod(shape)
    if reads_flat and len(shape) == 3:
        return image_view(net, layer, name)
    if reads_flat and len(shape) == 2:
        return signal_view(net, layer, name)
    if mask.ndim == 2 and len(shape) >= 1 and mask.shape[0] == shape[-1]:
        return features_view(net, layer, name)
    if mask.ndim == 4 and len(shape) == 3 and mask.shape[2] == shape[2]:
        return conv2d_view(net, layer, name)
    if mask.ndim == 3 and len(shape) == 2 and mask.shape[1] == shape[1]:
        return conv1d_view(net, layer, name)
    kind = "Dense" if mask.ndim == 2 else f"{mask.ndim - 2}-D convolution"
    return MaskView(
        note=f"The first layer, {layer}, is a {kind} layer with a kernel of {shape_words(mask.shape)} on {inputs}: "
        f"this page cannot picture its mask (it draws a Dense layer reading the flattened inputs or each input "
        f"channel, and Conv1D or Conv2D filters reading the inputs). Its density and weights are below."
    )


def mask_heatmap(net: Network, name: str | None = None) -> go.Figure:
    """The first layer's mask figure (any view); ValueError, saying why, where it has none."""
    view = mask_view(net, name)
    if view.figure is None:
        raise ValueError(view.note)
    return view.figure


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
    """One panel per pruned layer (rows of HISTOGRAM_COLUMNS): histogram (density-normalised) of `values` of the
    kept weights against the pruned ones."""
    layers = list(masks)
    cols = max(1, min(HISTOGRAM_COLUMNS, len(layers)))
    rows = max(1, math.ceil(len(layers) / cols))
    spacing = min(0.3 / rows + 0.05, 0.5 / max(1, rows - 1))  # plotly allows at most 1 / (rows - 1)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=layers, vertical_spacing=spacing)
    shown: set[bool] = set()  # each legend entry once
    for i, layer in enumerate(layers):
        row, col = i // cols + 1, i % cols + 1
        all_values = values[layer].ravel()
        low, high = float(all_values.min()), float(all_values.max())
        if high <= low:  # one value throughout (a constant initializer): a bin around it
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
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
                    showlegend=kept not in shown,
                ),
                row=row,
                col=col,
            )
            shown.add(kept)
        fig.update_xaxes(title_text=x_title, row=row, col=col)
    fig.update_yaxes(title_text="density", col=1)
    fig.update_layout(title={"text": title}, barmode="overlay", height=60 + 300 * rows)
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


def run_analysis(
    store, run_id: str, arm: str, round_: int, other_seed: str | None = None, notes: list[str] | None = None
) -> tuple[dict, dict]:
    """Figures {name: figure} and tables {name: DataFrame} of one kept network of a run: its first layer's mask
    in a form that fits the input (`mask_view`: one of MASK_VIEWS), per-layer density per round, theta0 and
    dense-trained weights of the kept against the pruned, mask overlap between rounds and with `other_seed`'s run
    at this round. Where the first layer's mask has no picture, the reason is appended to `notes` (when given).
    Raises NetworkError when the network is not kept."""
    net = kept_networks.network(store, run_id, arm, round_)
    config = store.config_and_record(run_id)[1]
    name = network_name(config, arm, round_)
    summary = store.results(run_id) or run_tables.completed_rounds_summary(store, run_id) or {"results": []}
    records = summary["results"]
    figures, tables = {}, {}
    if net.masks:  # a dense network has no mask to picture
        try:
            view = mask_view(net, name)
        except Exception as e:  # a network no view foresaw: said in words, the rest of the analysis still shown
            view = MaskView(note=f"The first layer's mask cannot be pictured ({type(e).__name__}: {e}).")
        if view.key is not None and view.figure is not None and view.table is not None:
            figures[view.key], tables[view.key] = view.figure, view.table
        elif view.note and notes is not None:
            notes.append(view.note)
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
