import importlib.util
import json
import os
import subprocess
import sys

import streamlit as st

from dashboard.common import store, submit_runs
from dashboard.text import plain
from lth import presets
from lth.data.datasets import SPECS, availability_problem, dataset_source
from lth.device import GPU_FIX_HINT, cpu_name, gpu_hardware
from lth.runs import RunState, executors, max_concurrent, schedule, set_max_concurrent
from lth.runs import settings as store_settings
from lth.runs import tables as run_tables

st.title("Lottery Ticket Lab")
st.caption("Pruning experiments in the style of Frankle & Carbin's Lottery Ticket Hypothesis, on MNIST.")
s = store()

left, right = st.columns(2)
with left:
    st.subheader("Device")
    gpus = gpu_hardware()
    if gpus and importlib.util.find_spec("nvidia.cudnn") is None:
        st.warning(
            f"An NVIDIA GPU ({gpus[0]}) is present but TensorFlow's CUDA libraries are not installed, so "
            f"runs would train on the CPU. To fix it, {GPU_FIX_HINT}."
        )
    elif gpus:
        st.success(f"Runs train on the GPU: {', '.join(gpus)}.")
    else:
        st.info(f"No GPU found: runs train on the CPU ({cpu_name()}, {os.cpu_count()} cores).")
    runs = run_tables.runs_frame(s)
    # A worker found a GPU that TensorFlow could not use: its own words say how to fix it.
    device_warning = next(
        (w for r in runs["run_id"] if (w := ((s.status_or_none(r) or {}).get("device") or {}).get("warning"))), None
    )
    if device_warning:
        st.warning(device_warning)
    settings = store_settings.read(s)
    for warning in settings.problems:
        st.warning(plain(warning))
    if not s.writable:
        st.warning(f"The run store {plain(s.root)} is read-only: runs can be viewed, not started or changed.")
    current_limit = max_concurrent(s)
    limit = st.number_input(
        "Runs trained at once",
        1,
        16,
        min(16, current_limit),
        key="max-concurrent",
        help="One per GPU is best on a GPU; on a CPU, more runs share the cores.",
        disabled=not s.writable,
    )
    if limit != current_limit and s.writable:
        set_max_concurrent(s, int(limit))
        schedule(s)
    st.subheader("Executor")
    executor = st.radio(
        "Runs train on",
        executors.NAMES,
        horizontal=True,
        key="executor",
        index=executors.NAMES.index(settings.get("executor", "local")),
        format_func={"local": "this machine (local processes)", "ray": "a Ray cluster"}.__getitem__,
    )
    address = settings.get("ray_address") or "auto"
    if executor == "ray":
        problem = executors.unavailable("ray")
        if problem:
            st.error(f"{problem[0].upper()}{problem[1:]}. Runs keep training on this machine until it is.")
            executor = "local"
        address = st.text_input(
            "Ray address",
            address,
            key="ray-address",
            help="auto: $RAY_ADDRESS or a cluster started on this machine with `ray start`",
        )
        if st.button("Show the cluster", key="show-cluster"):
            # a separate process: the dashboard itself never becomes a Ray driver
            probe = subprocess.run(
                [sys.executable, "-m", "lth", "cluster", "--ray-address", address],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if probe.returncode == 0:
                info = json.loads(probe.stdout)
                st.success(f"{len(info['nodes'])} nodes, {info['cpus']:g} CPUs, {info['gpus']:g} GPUs")
                st.dataframe(info["nodes"], hide_index=True)
            else:
                st.error(
                    probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "the cluster did not answer"
                )
    if (executor, address) != (settings.get("executor", "local"), settings.get("ray_address") or "auto") and s.writable:
        store_settings.write(s, executor=executor, ray_address=address)
with right:
    st.subheader("Data")
    for name, data in SPECS.items():
        problem = availability_problem(name)
        train, val, test = data.sizes
        st.markdown(
            f"**{name}** — {data.title}  \n"
            f"{'⚠️ ' + plain(problem) if problem else 'Reads from ' + plain(dataset_source(name))} · "
            f"{train:,} train / {val:,} validation / {test:,} test · "
            f"{'x'.join(map(str, data.input_shape))}  \nClasses: {plain(', '.join(data.class_names))}"
        )
    folders = [
        f"{name}: ${data.dir_env}" + (f" or {data.folder}" if data.folder else "")
        for name, data in SPECS.items()
        if data.dir_env
    ]
    st.caption(
        plain(
            f"Full datasets must be the official files (checked by checksum); each can be given as a "
            f"folder with the four IDX files ({'; '.join(folders)}; or the folder field on each experiment "
            f"page); MNIST also from Keras' download where there is internet."
        )
    )

st.subheader("Runs")
# filled at the end of the script (after a preset queued its runs) and then every few seconds while runs are
# queued or train: the counters follow the queue
counters_box = st.container()
REFRESH_S = 3.0
IDLE_REFRESH_S = 15.0


def counters() -> None:
    now = run_tables.runs_frame(s)
    if now.empty:
        st.info(
            "No runs yet. Start one on an experiment's page (Baseline, Lottery ticket, ...), or with a preset "
            "below; or from a terminal: `python -m lth submit --experiment lottery --iterations 1500`."
        )
        return
    counts = now["state"].value_counts()
    columns = st.columns(6)
    for column, state in zip(columns, RunState):
        column.metric(state.value, int(counts.get(state.value, 0)))
    st.page_link("pages/runs.py", label="All runs", icon=":material/list:")


st.subheader("Presets")
for preset in presets.PRESETS.values():
    with st.container(border=True):
        st.markdown(f"**{preset.title}**  \n{preset.description}")
        budget = st.radio(
            "Budget",
            list(preset.budgets),
            horizontal=True,
            key=f"budget-{preset.name}",
            format_func=presets.BUDGET_LABELS.__getitem__,
        )
        dataset = None
        if budget != "quick":
            dataset = st.radio("Dataset", presets.FULL_DATASETS, horizontal=True, key=f"dataset-{preset.name}")
        configs = preset.configs(budget, dataset)
        problem = availability_problem(configs[0].dataset)
        seconds = preset.estimate_seconds(budget, configs)
        st.caption(
            f"{len(configs)} runs · {configs[0].dataset} · {preset.budget_summary(budget)} · seeds "
            f"{', '.join(map(str, preset.seeds(budget)))} · {presets.duration_words(seconds)} on a "
            f"2-core CPU (less on a GPU)"
        )
        if problem:
            st.warning(plain(problem))
        if st.button("Start preset", key=f"start-{preset.name}", disabled=bool(problem)):
            submit_runs(configs, None)

with counters_box:
    active = run_tables.runs_frame(s)["state"].isin([RunState.QUEUED.value, RunState.RUNNING.value]).any()
    st.fragment(counters, run_every=REFRESH_S if active else IDLE_REFRESH_S)()
