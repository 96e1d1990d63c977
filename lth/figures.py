"""Plotly figures of runs: live training curves and density-vs-accuracy overlays across runs and seeds.

Pure functions of DataFrames from the run store, so the dashboard, the CLI and tests share them.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale

from lth.arms import ARMS
from lth.records import METRICS

ARM_LABELS = {name: arm.label for name, arm in ARMS.items()}
ARM_ORDER = tuple(ARMS)  # legend order of the density figures
DENSE_DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot")  # dense baselines of several series
ARM_COLORS = {name: arm.colour for name, arm in ARMS.items()}
SPLIT_DASH = {"train": "solid", "val": "dash", "test": "dot"}


DENSITY_TICKS = [100, 80, 64, 50, 40, 30, 20, 15, 10, 7, 5, 3.5, 2, 1.5, 1, 0.5]
TICK_GAP = 0.045  # the least distance of two density ticks on the log axis (decades): labels that do not collide


def density_ticks(densities=()) -> list[float]:
    """Ticks at the plotted densities (in %), so a point's tick names it (a 3.6% point under "3.6%", never under a
    nearby round number); where two are closer than the labels allow, the denser is kept. Without data: round
    numbers."""
    plotted = sorted({float(f"{float(d):.3g}") for d in densities if d is not None and float(d) > 0}, reverse=True)
    if not plotted:
        return sorted(DENSITY_TICKS)
    ticks: list[float] = []
    for d in plotted:
        if not ticks or np.log10(ticks[-1] / d) >= TICK_GAP:
            ticks.append(d)
    return sorted(ticks)


def density_axis(densities=()) -> dict:
    """Log density axis in percent, decreasing to the right (pruning proceeds rightwards); a tick at each
    plotted density."""
    ticks = density_ticks(densities)
    return {
        "type": "log",
        "autorange": "reversed",
        "title": {"text": "density (% of prunable weights kept)"},
        "tickvals": ticks,
        "ticktext": [f"{t:g}%" for t in ticks],
    }


def log_ticks(low: float, high: float) -> dict:
    """Tick values and whole labels (0.05, 0.1, 0.2, 0.5, 1, 2) for a log axis over [low, high]: plotly's own labels
    between powers of ten are bare digits ("1, 5, 2", where 5 means 0.5)."""
    if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 or high <= 0:
        return {}
    values = [
        m * 10.0**e
        for e in range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
        for m in (1, 2, 5)
    ]
    inside = [v for v in values if low / 1.0001 <= v <= high * 1.0001]
    if len(inside) < 2:  # a narrow range: the nearest ticks around it too
        below = [v for v in values if v < low][-1:]
        above = [v for v in values if v > high][:1]
        inside = below + inside + above
    return {"tickvals": inside, "ticktext": [f"{v:g}" for v in inside]}


# Each arm its colour family, rounds as shades of it (darker = later round, sparser network).
ARM_SCALES = {name: arm.scale for name, arm in ARMS.items()}


@functools.lru_cache(maxsize=4096)  # plotly resolves the named scale on every call: a page asks for dozens
def round_colour(arm: str, index: int, count: int) -> str:
    position = 0.45 + 0.5 * index / max(1, count - 1)
    return sample_colorscale(ARM_SCALES.get(arm, "Purples"), [position])[0]


CURVE_POINTS = 250  # points per drawn curve at most: a 50,000-iteration training has 500 evaluations


def _thin(count: int, limit: int = CURVE_POINTS) -> np.ndarray:
    """Positions of every n-th point of `count` (the last one always): a long curve costs what a short one does."""
    if count <= limit:
        return np.arange(count)
    step = -(-count // limit)
    return np.append(np.arange(0, count - 1, step), count - 1)


def _curve_layout(title: str) -> dict:
    """Two panels side by side (loss, accuracy), as make_subplots lays them out, built directly: the live
    view redraws every refresh and plotly's own constructors cost more than the data."""
    return {
        "title": {"text": title},
        "height": 460,
        "legend": {"font": {"size": 10}},
        "margin": {"l": 50, "r": 20, "t": 60, "b": 40},
        "xaxis": {"domain": [0.0, 0.45], "anchor": "y", "title": {"text": "iteration"}},
        "xaxis2": {"domain": [0.55, 1.0], "anchor": "y2", "title": {"text": "iteration"}},
        "yaxis": {"domain": [0.0, 1.0], "anchor": "x", "type": "log"},
        "yaxis2": {"domain": [0.0, 1.0], "anchor": "x2"},
        "annotations": [
            {
                "text": text,
                "x": x,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "center",
                "yanchor": "bottom",
                "font": {"size": 16},
            }
            for text, x in (("loss", 0.225), ("accuracy", 0.775))
        ],
    }


SPLIT_WORDS = {"train": "train", "val": "validation", "test": "test"}


def training_curves(metrics: pd.DataFrame, title: str = "", by_density: bool = False) -> go.Figure:
    """Loss and accuracy against iteration for train, validation and test; one colour per round
    (per arm when an arm is not the ticket), line style per split; long curves thinned. One legend entry per
    network (its three splits toggle together) and one per line style: a 24-round run lists 25 networks, not
    75 lines. `by_density`: the networks are named by their density (a one-shot run), not by a round."""
    if metrics.empty:
        return go.Figure(layout=_curve_layout(title or "no evaluations yet"), _validate=False)
    rounds = sorted(metrics["round"].unique())
    traces = []
    # instability runs train several copies per network: each its own line
    keys = ["arm", "round"] + [k for k in ("rewind", "copy") if k in metrics]
    for key, group in metrics.groupby(keys, sort=False, dropna=False):
        arm, round_ = key[0], key[1]
        density = 100 * group["density"].iloc[0]
        pair = f" k={key[2]:g} copy {key[3]:g}" if len(key) == 4 and key[2] == key[2] else ""
        where = f"{density:.3g}%" if by_density else f"r{round_} ({density:.1f}%)"
        name = f"{ARM_LABELS.get(arm, arm)} {where}{pair}"
        colour = round_colour(arm, rounds.index(round_), len(rounds))
        iterations = group["iteration"].to_numpy()
        for split in ("train", "val", "test"):
            for col, metric in ((1, "loss"), (2, "accuracy")):
                column = f"{split}_{metric}"
                values = (
                    group[column].to_numpy(dtype=float, na_value=np.nan)
                    if column in group
                    else np.full(len(group), np.nan)
                )
                present = np.flatnonzero(~np.isnan(values))  # the test set is evaluated less often
                shown = present[_thin(len(present))]
                traces.append(
                    {
                        "type": "scatter",
                        "x": iterations[shown].tolist(),
                        "y": values[shown].tolist(),
                        "mode": "lines" if len(shown) > 1 else "markers",  # one evaluation is a point, not nothing
                        "name": f"{name} {split}" if split != "train" else name,
                        "legendgroup": name,
                        "showlegend": col == 1 and split == "train",
                        "line": {"color": colour, "dash": SPLIT_DASH[split]},
                        "marker": {"color": colour},
                        "xaxis": "x" if col == 1 else "x2",
                        "yaxis": "y" if col == 1 else "y2",
                        "hovertemplate": f"{name} {SPLIT_WORDS[split]}: %{{y:.4g}} at iteration %{{x}}<extra></extra>",
                    }
                )
    for split, dash in SPLIT_DASH.items():  # the key to the line styles
        key_trace = {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "lines",
            "name": f"{SPLIT_WORDS[split]} ({dash})",
            "legendgroup": f"split-{split}",
            "line": {"color": "#555", "dash": dash},
            "hoverinfo": "skip",
        }
        traces.append(key_trace)
    layout = _curve_layout(title)
    layout["legend"] = {"font": {"size": 10}, "tracegroupgap": 2, "groupclick": "togglegroup"}
    losses = [y for tr in traces if tr.get("yaxis") == "y" for y in tr["y"] if y is not None and y == y and y > 0]
    if losses:
        layout["yaxis"] = {**layout["yaxis"], **log_ticks(min(losses), max(losses))}
    return go.Figure(data=traces, layout=layout, _validate=False)


def aggregate(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Mean, std, min, max and seed count of `metric` (and early-stop iteration) per series, arm and density."""
    if results.empty:
        return pd.DataFrame()
    frame = results.assign(density_pct=(100 * results["density"]).round(2))
    keys = ["series", "label", "experiment", "model", "arm", "density_pct"]
    stats = (
        frame.groupby(keys, sort=False)
        .agg(
            mean=(metric, "mean"),
            std=(metric, "std"),
            min=(metric, "min"),
            max=(metric, "max"),
            seeds=("seed", "nunique"),
            early_stop_mean=("early_stop_iteration", "mean"),
            early_stop_std=("early_stop_iteration", "std"),
            early_stop_min=("early_stop_iteration", "min"),
            early_stop_max=("early_stop_iteration", "max"),
        )
        .reset_index()
    )
    return stats.fillna({"std": 0.0, "early_stop_std": 0.0}).sort_values(keys[:5] + ["density_pct"])


def _band(x, low, high, colour, name, group) -> dict:
    return {
        "type": "scatter",
        "x": list(x) + list(x)[::-1],
        "y": list(high) + list(low)[::-1],
        "fill": "toself",
        "mode": "lines",
        "line": {"width": 0},
        "fillcolor": colour,
        "opacity": 0.2,
        "hoverinfo": "skip",
        "showlegend": False,
        "name": f"{name} band",
        "legendgroup": group,
    }


def _series_traces(stats: pd.DataFrame, value: str, low: str, high: str) -> list[dict]:
    """One line per (series, arm) with its band; the dense baseline as a horizontal band. Traces are
    plain dicts given to the figure at once: building hundreds of validated trace objects one by one
    is what makes plotly slow with many runs."""
    traces = []
    xs = stats["density_pct"]
    x_range = (float(xs.min()), float(xs.max()))
    # Each arm keeps its colour family whatever the filter shows (ticket blue, reinit red, ...); series are
    # shades within it and, for the dense baselines, dash styles too. Legend: arms in a fixed order.
    series_order = sorted(stats["series"].unique())
    arm_order = {arm: i for i, arm in enumerate(ARM_ORDER)}
    stats = stats.assign(
        _arm=stats["arm"].map(lambda a: arm_order.get(a, len(arm_order))),
        _series=stats["series"].map(series_order.index),
    )
    stats = stats.sort_values(["_arm", "_series", "density_pct"], ascending=[True, True, False])
    for (_, index), group in stats.groupby(["_arm", "_series"], sort=False):
        arm = group["arm"].iloc[0]
        # the seed count in the name: a legend, an export or a hover never hides that two lines average
        # different numbers of seeds
        label = f"{ARM_LABELS.get(arm, arm)} · {group['label'].iloc[0]} · {seed_count(group['seeds'])}"
        colour = series_colour(arm, index, len(series_order))
        if arm == "dense" and len(group) == 1:
            g = group.iloc[0]
            left, right = max(x_range[1], 100.0), min(x_range[0], 100.0)
            traces.append(_band([left, right], [g[low]] * 2, [g[high]] * 2, colour, label, label))
            traces.append(
                {
                    "type": "scatter",
                    "x": [left, right],
                    "y": [g[value]] * 2,
                    "mode": "lines",
                    "name": label,
                    "legendgroup": label,
                    "line": {"color": colour, "dash": DENSE_DASHES[index % len(DENSE_DASHES)]},
                    "hovertemplate": f"{label}: %{{y:.4f}} ({int(g['seeds'])} seeds)<extra></extra>",
                }
            )
            continue
        traces.append(_band(group["density_pct"], group[low], group[high], colour, label, label))
        traces.append(
            {
                "type": "scatter",
                "x": group["density_pct"].tolist(),
                "y": group[value].tolist(),
                "mode": "lines+markers",
                "name": label,
                "legendgroup": label,
                "line": {"color": colour, "dash": ARMS[arm].dash if arm in ARMS else "solid"},
                "customdata": group[["seeds"]].to_numpy().tolist(),
                "hovertemplate": "%{x:.3g}%: %{y:.4f} (n=%{customdata[0]} seeds)",
            }
        )
    return traces


def seed_count(seeds: pd.Series) -> str:
    """The seed count of a line: "n=3", or "n=2-3" where the points of one line average different numbers of seeds."""
    low, high = int(seeds.min()), int(seeds.max())
    return f"n={low}" if low == high else f"n={low}-{high}"


def series_colour(arm: str, index: int, count: int) -> str:
    """The colour of the `index`-th of `count` series of `arm`: the arm's own where one series is shown, else a
    shade of its family. Lines, bands and collapse marks of a series share it."""
    return ARM_COLORS.get(arm, "#333") if count == 1 else round_colour(arm, index, count)


def _with_band(stats: pd.DataFrame, mean: str, std: str, low: str, high: str, band: str) -> pd.DataFrame:
    if band == "std":
        return stats.assign(low=stats[mean] - stats[std], high=stats[mean] + stats[std])
    return stats.assign(low=stats[low], high=stats[high])


LEGEND_BESIDE = 8  # legend entries shown beside a density figure; more go below it


def _density_figure(traces: list[dict], title: str, y_title: str, height: int) -> go.Figure:
    densities = [x for t in traces if t.get("mode") == "lines+markers" for x in t["x"]]
    # The traces are built here in a fixed, known-good shape; skipping plotly's per-property validation
    # keeps the compare page fast with hundreds of runs (it is most of the cost otherwise).
    named = sum(1 for t in traces if t.get("name") and t.get("showlegend", True) is not False)
    legend: dict = {"font": {"size": 11}}
    if named > LEGEND_BESIDE:  # a legend beside the plot would squeeze it to a sliver and cut names off
        legend |= {"orientation": "h", "yanchor": "top", "y": -0.15, "xanchor": "left", "x": 0}
        height += 22 * -(-named // 2)  # about two entries a row below the plot
    layout = {
        "title": {"text": title},
        "xaxis": density_axis(densities),
        "yaxis": {"title": {"text": y_title}},
        "height": height,
        "legend": legend,
    }
    return go.Figure(data=traces, layout=layout, _validate=False)


def accuracy_vs_density(
    results: pd.DataFrame,
    metric: str = "early_stop_test_accuracy",
    band: str = "std",
    stats: pd.DataFrame | None = None,
    verdicts: pd.DataFrame | None = None,
) -> go.Figure:
    """Test accuracy against density (log axis, decreasing to the right) for every arm, mean over seeds
    with a band (±1 std or min-max); the dense baseline as a horizontal band. `verdicts` (from
    lth.statistics.verdicts) marks the densities where the ticket is a winning ticket (verdict held) with a
    star by its `star` column: filled, more accurate than dense; hollow, as good as dense within the margin."""
    stats = aggregate(results, metric) if stats is None else stats
    traces = (
        []
        if stats.empty
        else _series_traces(_with_band(stats, "mean", "std", "min", "max", band), "mean", "low", "high")
    )
    if verdicts is not None and not verdicts.empty and not stats.empty and "star" in verdicts:
        won = verdicts[verdicts["star"].isin(["filled", "hollow"])].merge(
            stats[stats["arm"] == "ticket"][["label", "density_pct", "mean", "seeds"]], on=["label", "density_pct"]
        )
        for star, kind, symbol in (
            ("filled", "more accurate than dense", "star"),
            ("hollow", "as good as dense (within the margin)", "star-open"),
        ):
            rows = won[won["star"] == star]
            if rows.empty:
                continue
            traces.append(
                {
                    "type": "scatter",
                    "x": rows["density_pct"].tolist(),
                    "y": rows["mean"].tolist(),
                    "mode": "markers",
                    "name": f"winning ticket: {kind}",
                    "customdata": rows[["accuracy_diff", "accuracy_ci_low", "accuracy_ci_high", "margin"]]
                    .mul(100)
                    .assign(n=rows["seeds"].to_numpy(), label=rows["label"].to_numpy())
                    .to_numpy()
                    .tolist(),
                    "marker": {"symbol": symbol, "size": 13, "color": "#f2c500", "line": {"color": "#333", "width": 1}},
                    # the star's own numbers, not the line's point beneath it
                    "hovertemplate": f"winning ticket ({kind}) · %{{customdata[5]}} at %{{x:.3g}}%:<br>ticket − "
                    "dense %{customdata[0]:+.2f} points, 95% interval [%{customdata[1]:+.2f}, "
                    "%{customdata[2]:+.2f}], margin %{customdata[3]:.2f} points, n=%{customdata[4]} seeds"
                    "<extra></extra>",
                    "hoverlabel": {"namelength": -1},
                }
            )
    traces += _collapse_marks(results, stats)
    band_text = "±1 std" if band == "std" else "min-max"
    return _density_figure(
        traces,
        f"{METRICS.get(metric, metric)} vs density (mean over seeds, band {band_text})",
        METRICS.get(metric, metric),
        480,
    )


def layer_columns(results: pd.DataFrame) -> list[str]:
    """The per-layer density columns of a results frame (`density_<layer>`; `density_pct` is a rounding)."""
    return [c for c in results.columns if c.startswith("density_") and c != "density_pct"]


def collapsed(results: pd.DataFrame) -> pd.Series:
    """Whether each training's mask kept no weight of some layer (layer collapse: the network is cut)."""
    layer_cols = layer_columns(results)
    if results.empty or not layer_cols:
        return pd.Series(False, index=results.index)
    return results[layer_cols].eq(0).any(axis=1)


def _collapse_marks(results: pd.DataFrame, stats: pd.DataFrame) -> list[dict]:
    """A cross on every plotted point where at least one seed's training lost a whole layer, in the colour of its
    series (two series that overlap keep their own crosses); hovering one says how many of how many seeds."""
    if results.empty or stats.empty:
        return []
    cut = results[collapsed(results)]
    if cut.empty:
        return []
    cut = cut.assign(density_pct=(100 * cut["density"]).round(2))
    counts = cut.groupby(["series", "arm", "density_pct"]).size().rename("collapsed").reset_index()
    points = stats.merge(counts, on=["series", "arm", "density_pct"])
    if points.empty:
        return []
    series_order = sorted(stats["series"].unique())
    traces = []
    for i, ((series, arm), group) in enumerate(points.groupby(["series", "arm"], sort=True)):
        colour = series_colour(arm, series_order.index(series), len(series_order))
        name = f"{ARM_LABELS.get(arm, arm)} · {group['label'].iloc[0]}"
        traces.append(
            {
                "type": "scatter",
                "x": group["density_pct"].tolist(),
                "y": group["mean"].tolist(),
                "mode": "markers",
                "name": "layer collapse (a layer kept no weight)",
                "legendgroup": "layer collapse",
                "showlegend": i == 0,
                "customdata": group[["collapsed", "seeds"]].to_numpy().tolist(),
                "marker": {"symbol": "x-thin-open", "size": 16, "color": colour, "line": {"width": 3, "color": colour}},
                "hovertemplate": f"layer collapse · {name} at %{{x:.3g}}%: a layer emptied in %{{customdata[0]}} "
                "of n=%{customdata[1]} seeds<extra></extra>",
            }
        )
    return traces


LAYER_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def layer_density_vs_density(results: pd.DataFrame) -> go.Figure:
    """Per-layer density against the overall density for every pruned arm (mean over seeds), one colour per
    arm and one dash per layer: where a criterion empties a layer (layer collapse) its line drops to the floor."""
    layer_cols = layer_columns(results)
    frame = results[results[layer_cols].notna().any(axis=1)] if layer_cols and not results.empty else results.iloc[:0]
    traces, floor = [], 1e-4  # an empty layer is drawn on the floor of the log axis
    if not frame.empty:
        frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
        means = frame.groupby(["label", "arm", "density_pct"], sort=False)[layer_cols].mean().reset_index()
        for (_label, arm), group in means.groupby(["label", "arm"], sort=False):
            group = group.sort_values("density_pct", ascending=False)
            for i, column in enumerate(layer_cols):
                if group[column].isna().all():
                    continue
                layer = column.removeprefix("density_")
                traces.append(
                    {
                        "type": "scatter",
                        "x": group["density_pct"].tolist(),
                        "y": (100 * group[column].clip(lower=floor)).tolist(),
                        "mode": "lines+markers",
                        "name": f"{ARM_LABELS.get(arm, arm)} · {layer}",
                        "legendgroup": arm,
                        "line": {"color": ARM_COLORS.get(arm, "#333"), "dash": LAYER_DASHES[i % 6]},
                        "hovertemplate": f"{layer} at %{{x:.2f}}% overall: %{{y:.3g}}% kept<extra></extra>",
                    }
                )
    figure = _density_figure(
        traces,
        "per-layer density against overall density (mean over seeds; an emptied layer sits on the floor)",
        "layer density (% kept, log)",
        480,
    )
    values = [y for tr in traces for y in tr["y"]]
    ticks = log_ticks(100 * floor, max(values)) if values else {}
    if ticks:  # the floor is where an emptied layer is drawn: its tick says so
        ticks["ticktext"] = ["emptied" if v <= 100 * floor else f"{v:g}%" for v in ticks["tickvals"]]
    figure.update_layout(yaxis={"type": "log", "title": {"text": "layer density (% kept, log)"}, **ticks})
    return figure


def early_stop_vs_density(results: pd.DataFrame, band: str = "std", stats: pd.DataFrame | None = None) -> go.Figure:
    stats = aggregate(results, "early_stop_test_accuracy") if stats is None else stats
    traces = (
        []
        if stats.empty
        else _series_traces(
            _with_band(stats, "early_stop_mean", "early_stop_std", "early_stop_min", "early_stop_max", band),
            "early_stop_mean",
            "low",
            "high",
        )
    )
    return _density_figure(traces, "early-stop iteration (minimum validation loss) vs density", "iteration", 420)


def layer_density_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per-layer density (%) of each arm and round, one row per distinct mask density."""
    layer_cols = layer_columns(results)
    if results.empty or not layer_cols:
        return pd.DataFrame()
    table = results[["label", "arm", "round", "density"] + layer_cols].drop_duplicates(subset=["label", "arm", "round"])
    table = table[table[layer_cols].notna().any(axis=1)].copy()  # dense baselines have no masks
    for column in ["density"] + layer_cols:
        table[column] = (100 * table[column]).round(2)
    return table.rename(columns={c: c.replace("density_", "") + " %" for c in layer_cols} | {"density": "overall %"})


# ---- instability (linear mode connectivity) --------------------------------------------------------
def _network_name(row) -> str:
    return "dense" if row["round"] == 0 else f"ticket round {int(row['round'])} ({100 * row['density']:.1f}%)"


def instability_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The instability results as the figures show them: one row per run, network and k, the barrier and
    the errors along the line in percentage points."""
    return pd.DataFrame(
        {
            "run": frame["run_id"],
            "seed": frame["seed"],
            "network": [_network_name(r) for _, r in frame.iterrows()],
            "density %": (100 * frame["density"]).round(1),
            "k (rewind iteration)": frame["rewind_iteration"],
            "barrier (points)": (100 * frame["barrier"]).round(2),
            "stable (< 2 points)": frame["stable"],
            "test error along the line, alpha 0 to 1 (%)": frame["test_errors"].map(
                lambda e: ", ".join(f"{100 * v:.2f}" for v in e)
            ),
        }
    )


def instability_error_curves(frame: pd.DataFrame) -> go.Figure:
    """Test error along the line between the two copies, one line per (network, k)."""
    fig = go.Figure()
    networks_ = sorted(frame[["round", "density"]].drop_duplicates().itertuples(index=False))
    for (_run_id, round_, k), group in frame.groupby(["run_id", "round", "rewind_iteration"], sort=True):
        row = group.iloc[0]
        index = [n[0] for n in networks_].index(round_)
        colour = round_colour("dense" if round_ == 0 else "ticket", index, len(networks_))
        ks = sorted(frame["rewind_iteration"].unique())
        fig.add_trace(
            go.Scatter(
                x=row["alphas"],
                y=[100 * e for e in row["test_errors"]],
                mode="lines+markers",
                name=f"{_network_name(row)} k={k} · seed {row['seed']}",
                line={"color": colour, "dash": ["solid", "dash", "dot", "dashdot", "longdash"][ks.index(k) % 5]},
                hovertemplate="alpha %{x:.2f}: %{y:.2f}% error<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": "test error along the line between the two copies"},
        xaxis_title="interpolation alpha (0: copy 1, 1: copy 2)",
        yaxis_title="test error (%)",
        height=440,
    )
    return fig


def instability_barrier_vs_k(frame: pd.DataFrame) -> go.Figure:
    """Error barrier against the rewind iteration k, one line per network (mean over seeds)."""
    from lth.instability import STABLE_BARRIER

    fig = go.Figure()
    means = frame.groupby(["round", "density", "rewind_iteration"], as_index=False)["barrier"].mean()
    rounds = sorted(means["round"].unique())
    for round_, group in means.groupby("round", sort=True):
        row = group.iloc[0]
        fig.add_trace(
            go.Scatter(
                x=group["rewind_iteration"],
                y=100 * group["barrier"],
                mode="lines+markers",
                name=_network_name(row),
                line={"color": round_colour("dense" if round_ == 0 else "ticket", rounds.index(round_), len(rounds))},
            )
        )
    fig.add_hline(y=100 * STABLE_BARRIER, line_dash="dot", line_color="#888", annotation_text="stable below 2 points")
    fig.update_layout(
        title={"text": "error barrier against the rewind iteration k (mean over seeds)"},
        xaxis_title="rewind iteration k",
        yaxis_title="error barrier (percentage points)",
        height=420,
    )
    return fig


def instability_barrier_vs_density(frame: pd.DataFrame, k_values=None) -> go.Figure:
    """Error barrier against density for k = 0 and the chosen k (the paper: IMP tickets of LeNet are
    stable at k = 0)."""
    from lth.instability import STABLE_BARRIER

    fig = go.Figure()
    k_values = sorted(k_values if k_values is not None else frame["rewind_iteration"].unique())
    means = frame.groupby(["rewind_iteration", "density"], as_index=False)["barrier"].mean()
    for i, k in enumerate(k_values):
        group = means[means["rewind_iteration"] == k].sort_values("density", ascending=False)
        fig.add_trace(
            go.Scatter(
                x=100 * group["density"],
                y=100 * group["barrier"],
                mode="lines+markers",
                name=f"k = {k}",
                line={"color": qualitative.Plotly[i % 10]},
            )
        )
    fig.add_hline(y=100 * STABLE_BARRIER, line_dash="dot", line_color="#888", annotation_text="stable below 2 points")
    layout = {
        "title": {"text": "error barrier against density"},
        "xaxis": density_axis(100 * frame["density"]),
        "yaxis": {"title": {"text": "error barrier (percentage points)"}},
        "height": 420,
    }
    fig.update_layout(**layout)
    return fig
