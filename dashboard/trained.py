"""A finished run's trained networks on the Runs page: the compression report, model files to download
(made as `lth export-model` makes them, in the server's export process, lth.export_service: this process
never imports TensorFlow), and the TensorBoard command."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import streamlit as st

from dashboard.common import network_file_part, network_words, readable, table_downloads
from dashboard.text import plain
from lth import paths
from lth.export_service import ExportHelper
from lth.networks import EXPORT_FORMATS, EXPORT_MIME, NetworkError, compression_table
from lth.runs import Corrupt, RunStore, StoreError
from lth.runs import kept as kept_networks

EXPORT_TIMEOUT_S = 300


@st.cache_resource(show_spinner=False)
def export_helper() -> ExportHelper:
    """The server's model-export process (lth.export_service): TensorFlow loaded once, not per file."""
    return ExportHelper()


def export_model_bytes(store: RunStore, run_id: str, arm: str, round_: int, fmt: str) -> tuple[bytes, str]:
    """The model file (a SavedModel zipped) and its name; RuntimeError with the CLI's message if it fails."""
    config = store.config_and_record(run_id)[1]
    with tempfile.TemporaryDirectory(prefix="lth-export-") as tmp:
        # named as the page names it: "..._ticket_round03", a one-shot run's "..._synflow_density3.6pct"
        out = Path(tmp) / f"{run_id}_{network_file_part(config, arm, round_)}"
        done = export_helper().run(
            [run_id, "--arm", arm, "--round", str(round_), "--format", fmt, "--out", str(out)]
            + ["--cache-dir", str(store.root)],
            timeout=EXPORT_TIMEOUT_S,
        )
        if done.returncode != 0:
            lines = [
                line for line in done.stderr.splitlines() if line.startswith("lth ")
            ] or done.stderr.strip().splitlines()[-1:]
            raise RuntimeError(lines[-1] if lines else f"export failed (exit {done.returncode})")
        path = Path(done.stdout.strip().splitlines()[-1])
        if path.is_dir():  # a SavedModel is a folder: one zip to download
            archive = shutil.make_archive(str(path), "zip", path)
            return Path(archive).read_bytes(), Path(archive).name
        return path.read_bytes(), path.name


def show_trained_networks(store: RunStore, run_id: str, summary: dict) -> None:
    table = compression_table(summary["results"])
    if table.empty:
        st.info(
            "This run was made before trained networks were kept: it has no compression report and no "
            "model to export. Run it again (delete it first) to get them."
        )
        return
    st.markdown(
        "**Compression report** — non-zero parameters, multiply-accumulates per image (all and "
        "non-zero only), the model's .h5 file (the format tfmot's pruning guide measures) and that file "
        "gzip'ed at level 9; pruned weights are stored zeros, which gzip removes."
    )
    st.dataframe(readable(table), hide_index=True, width="stretch")
    table_downloads(table, f"{run_id}_compression", key=f"compression-{run_id}")
    try:
        kept = kept_networks.networks_of(store, run_id)
    except (StoreError, Corrupt, OSError) as e:
        st.error(plain(e))
        return
    if kept:
        export_helper().start()  # TensorFlow imports there while the user picks a network and a format
        st.markdown(
            "**Export a trained network** — the weights at its early-stop iteration (pruned weights "
            "exactly zero) as a file plain TensorFlow loads, no part of this product needed."
        )
        left, middle, right = st.columns([2, 1, 1])
        config = store.config_and_record(run_id)[1]
        choice = left.selectbox(
            "Network", kept, format_func=lambda k: network_words(config, k[0], k[1]), key=f"export-net-{run_id}"
        )
        fmt = middle.selectbox(
            "Format",
            EXPORT_FORMATS,
            key=f"export-format-{run_id}",
            help="keras: tf_keras .keras file; h5: legacy HDF5; savedmodel: a zipped "
            "SavedModel folder; tflite: TensorFlow Lite with sparse weights where "
            "the converter finds it pays",
        )
        ready = f"export-ready-{run_id}"
        wanted = (tuple(choice), fmt)
        if right.button("Prepare file", key=f"export-go-{run_id}"):
            with st.spinner("Writing the model file (in a separate process that has TensorFlow loaded)…"):
                try:
                    st.session_state[ready] = (
                        *export_model_bytes(store, run_id, choice[0], choice[1], fmt),
                        fmt,
                        wanted,
                    )
                except (RuntimeError, subprocess.TimeoutExpired, OSError, NetworkError) as e:
                    st.session_state.pop(ready, None)
                    st.error(f"Export failed: {plain(e)}")
        if ready in st.session_state and st.session_state[ready][3] != wanted:
            st.session_state.pop(ready)  # a file made for another network or format is not offered for this one
        if ready in st.session_state:
            data, name, made_fmt, _ = st.session_state[ready]
            st.download_button(
                f"Download {name} ({len(data) / 1e6:.2f} MB)",
                data=data,
                file_name=name,
                mime=EXPORT_MIME[made_fmt],
                key=f"export-download-{run_id}",
                on_click="ignore",
            )
    folder = store.path(run_id) / paths.TENSORBOARD
    if folder.is_dir() and not folder.is_symlink():
        st.markdown("**TensorBoard** — losses, accuracies and densities of every arm and round:")
        # the virtual environment's own tensorboard: a plain shell has no `tensorboard` on its PATH
        command = shlex.quote(str(Path(sys.executable).parent / "tensorboard"))
        st.code(f"{command} --logdir {shlex.quote(str(folder))}", language="bash")
