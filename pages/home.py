import importlib.util
import json
import os
import subprocess
import sys

import streamlit as st

from dashboard.common import store, submit_runs
from lth import presets, runner
from lth.data import DataError, load_dataset
from lth.data.datasets import KERAS_MNIST_CACHE, MNIST_DIR_ENV, dataset_source
from lth.device import GPU_FIX_HINT, cpu_name, gpu_hardware

st.title("Lottery Ticket Lab")
st.caption("Pruning experiments in the style of Frankle & Carbin's Lottery Ticket Hypothesis, on MNIST.")
s = store()

left, right = st.columns(2)
with left:
    st.subheader("Device")
    gpus = gpu_hardware()
    if gpus and importlib.util.find_spec("nvidia.cudnn") is None:
        st.warning(f"An NVIDIA GPU ({gpus[0]}) is present but TensorFlow's CUDA libraries are not installed, so "
                   f"runs would train on the CPU. To fix it, {GPU_FIX_HINT}.")
    elif gpus:
        st.success(f"Runs train on the GPU: {', '.join(gpus)}.")
    else:
        st.info(f"No GPU found: runs train on the CPU ({cpu_name()}, {os.cpu_count()} cores).")
    runs = s.runs()
    # A worker found a GPU that TensorFlow could not use: its own words say how to fix it.
    device_warning = next((w for r in runs["run_id"]
                           if (w := ((s.status_or_none(r) or {}).get("device") or {}).get("warning"))), None)
    if device_warning:
        st.warning(device_warning)
    current_limit = runner.max_concurrent(s)
    limit = st.number_input("Runs trained at once", 1, 16, current_limit, key="max-concurrent",
                            help="One per GPU is best on a GPU; on a CPU, more runs share the cores.")
    if limit != current_limit:
        runner.set_max_concurrent(s, int(limit))
        runner.schedule(s)
    st.subheader("Executor")
    settings = runner.read_settings(s)
    executor = st.radio("Runs train on", runner.EXECUTORS, horizontal=True, key="executor",
                        index=runner.EXECUTORS.index(settings.get("executor", "local")),
                        format_func={"local": "this machine (local processes)", "ray": "a Ray cluster"}.get)
    address = settings.get("ray_address") or "auto"
    if executor == "ray":
        if importlib.util.find_spec("ray") is None:
            st.error("Ray is not installed: `.venv/bin/pip install -r requirements-ray.txt`. "
                     "Runs keep training on this machine until it is.")
            executor = "local"
        address = st.text_input("Ray address", address, key="ray-address",
                                help="auto: $RAY_ADDRESS or a cluster started on this machine with `ray start`")
        if st.button("Show the cluster", key="show-cluster"):
            # a separate process: the dashboard itself never becomes a Ray driver
            probe = subprocess.run([sys.executable, "-m", "lth", "cluster", "--ray-address", address],
                                   capture_output=True, text=True, timeout=60)
            if probe.returncode == 0:
                info = json.loads(probe.stdout)
                st.success(f"{len(info['nodes'])} nodes, {info['cpus']:g} CPUs, {info['gpus']:g} GPUs")
                st.dataframe(info["nodes"], hide_index=True)
            else:
                st.error(probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "the cluster did not answer")
    if (executor, address) != (settings.get("executor", "local"), settings.get("ray_address") or "auto"):
        runner.write_settings(s, executor=executor, ray_address=address)
with right:
    st.subheader("Data")
    st.markdown(f"- **mnist-sample** (bundled, offline): {dataset_source('mnist-sample')}\n"
                f"- **mnist** (full): {dataset_source('mnist')}")
    st.caption(f"Point the full dataset at a folder holding the four original IDX files with the "
               f"{MNIST_DIR_ENV} variable (or the folder field on each experiment page), or let Keras "
               f"download it into {KERAS_MNIST_CACHE} where there is internet.")

st.subheader("Runs")
if runs.empty:
    st.info("No runs yet. Start one on the Baseline, Lottery ticket or tfmot page, or with a preset below; "
            "or from a terminal: `python -m lth submit --experiment lottery --iterations 1500`.")
else:
    counts = runs["state"].value_counts()
    columns = st.columns(6)
    for column, state in zip(columns, ["queued", "running", "done", "failed", "cancelled", "corrupt"]):
        column.metric(state, int(counts.get(state, 0)))
    st.page_link("pages/runs.py", label="All runs", icon=":material/list:")

st.subheader("Presets")
for preset in presets.PRESETS.values():
    with st.container(border=True):
        st.markdown(f"**{preset.title}**  \n{preset.description}")
        budget = st.radio("Budget", presets.BUDGETS, horizontal=True, key=f"budget-{preset.name}",
                          format_func={"quick": "quick (bundled sample, 2-core CPU)",
                                       "full": "full (full MNIST, the papers' iterations)"}.get)
        configs = preset.configs(budget)
        shared = preset.budgets[budget]
        estimate = ""
        try:
            data = load_dataset(shared["dataset"])
            minutes = presets.estimate_seconds(configs, len(data.y_train), len(data.y_val) + len(data.y_test)) / 60
            estimate = f" · about {minutes:.0f} min on a 2-core CPU (less on a GPU)"
        except DataError as e:  # full MNIST absent: say so; Start then shows the same reason
            estimate = f" · {e}"
        st.caption(f"{len(configs)} runs · {shared['dataset']} · {shared['iterations']} iterations per "
                   f"training · batch {shared['batch_size']} · seeds {', '.join(map(str, presets.SEEDS))}{estimate}")
        if st.button("Start preset", key=f"start-{preset.name}"):
            submit_runs(configs, None)
