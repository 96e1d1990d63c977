"""The trained networks a run keeps, and what can be counted on them without TensorFlow.

Every training of a run (each arm and round) ends by writing the weights at its early-stop iteration and
its mask to the run's checkpoint folder as `net_ARM_RR.npz` (compressed: pruned zeros cost almost
nothing). The analyses, the model export and the compression report read them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lth import arms, models, paths
from lth.errors import Explained
from lth.fsutil import read_npz, write_npz_atomic

EXPORT_FORMATS = ("keras", "h5", "savedmodel", "tflite")  # what `lth export-model` writes (lth.model_export)
EXPORT_SUFFIX = {"keras": ".keras", "h5": ".h5", "savedmodel": "", "tflite": ".tflite"}  # a savedmodel is a folder
# what a download of each is (a savedmodel folder is downloaded zipped)
EXPORT_MIME = {
    "keras": "application/zip",
    "h5": "application/x-hdf5",
    "savedmodel": "application/zip",
    "tflite": "application/octet-stream",
}
ARMS = arms.NAMES
NET_FILE = paths.network_pattern(ARMS)
MAX_NET_BYTES = 64 * 2**20  # far above any model here; a bigger file is not one this product wrote


class NetworkError(Explained, ValueError):
    """A kept network that is missing or not what the product writes; the message says which."""


def net_file(arm: str, round_: int) -> str:
    return paths.network(arm, round_)


@dataclass
class Network:
    model: str
    arm: str
    round: int
    weights: list[np.ndarray]  # as `model.get_weights()`: kernel and bias of each layer
    masks: dict[str, np.ndarray]  # the pruned layers' masks (empty for a dense network)

    @property
    def spec(self) -> models.ModelSpec:
        return models.get_spec(self.model)

    def kernels(self) -> dict[str, np.ndarray]:
        return self.spec.kernels(self.weights)

    def counts(self) -> dict:
        """Parameters and multiply-accumulates per image, all and non-zero only (as ShrinkBench counts)."""
        spec = self.spec
        positions = spec.positions or {}
        kernels = self.kernels()
        dense_macs = sum(kernels[n].size * positions.get(n, 1) for n in spec.layer_names)
        nonzero_macs = sum(int(np.count_nonzero(kernels[n])) * positions.get(n, 1) for n in spec.layer_names)
        return {
            "params": int(sum(w.size for w in self.weights)),
            "nonzero_params": int(sum(np.count_nonzero(w) for w in self.weights)),
            "dense_macs": int(dense_macs),
            "nonzero_macs": int(nonzero_macs),
        }


def save(folder: str | Path, arm: str, round_: int, weights: list[np.ndarray], masks: dict[str, np.ndarray]) -> str:
    arrays = {f"weights/{i}": np.asarray(w, np.float32) for i, w in enumerate(weights)}
    arrays.update({f"mask/{name}": np.asarray(m, np.uint8) for name, m in masks.items()})  # 0/1: bytes, not floats
    name = net_file(arm, round_)
    write_npz_atomic(Path(folder) / name, arrays)
    return name


def kept(folder: str | Path) -> list[tuple[str, int]]:
    """(arm, round) of every network kept in the folder, rounds in order."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = [(m.group(1), int(m.group(2))) for p in folder.iterdir() if (m := NET_FILE.fullmatch(p.name))]
    return sorted(found, key=lambda x: (x[1], ARMS.index(x[0])))


def check_sha256(path: Path, sha256: str | None, what: str) -> None:
    """NetworkError unless the file is the one whose sha256 its record carries (`sha256`; None: not checked)."""
    if sha256 is None:
        return
    from lth.fsutil import file_sha256

    try:
        found = file_sha256(path, MAX_NET_BYTES)
    except OSError as e:
        raise NetworkError(f"{path.name} cannot be read ({e})") from None
    if found != sha256:
        raise NetworkError(
            f"{path.name} is not the file {what} records (sha256 {found[:12]}…, recorded "
            f"{sha256[:12]}…): damaged or replaced; `lth resume RUN_ID` trains it again"
        )


def load(folder: str | Path, model: str, arm: str, round_: int, sha256: str | None = None) -> Network:
    """The kept network, checked against the sha256 its record carries (when given) and the model's shapes:
    wrong files raise NetworkError."""
    if arm not in ARMS:
        raise NetworkError(f"unknown arm {arm!r}; choose one of {', '.join(ARMS)}")
    path = Path(folder) / net_file(arm, round_)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise NetworkError(f"{path.name} is not a file of the run (a symlink or a folder)")
    if not path.is_file():
        raise NetworkError(
            f"no trained network for arm {arm} round {round_} in this run (runs made before "
            f"networks were kept have none)"
        )
    if path.stat().st_size > MAX_NET_BYTES:
        raise NetworkError(f"{path.name} is {path.stat().st_size:,} bytes, not a network this product wrote")
    check_sha256(path, sha256, f"the record of {arm} round {round_}")
    spec = models.get_spec(model)
    shapes = spec.weight_shapes()
    expected = {f"weights/{i}": shape for i, shape in enumerate(shapes)}
    expected.update({f"mask/{name}": tuple(shape) for name, shape in spec.kernel_shapes.items()})
    try:
        arrays = read_npz(path, expected)  # names and shapes checked from the headers before reading
    except Exception as e:  # ArrayFileError, OSError: a torn, foreign or oversized file
        raise NetworkError(f"{path.name} is not a network of this {model} run: {e}") from None
    weights = []
    for i, shape in enumerate(shapes):
        w = arrays.get(f"weights/{i}")
        if w is None or w.shape != shape or w.dtype != np.float32 or not np.isfinite(w).all():
            raise NetworkError(f"{path.name}: weights/{i} is not a finite float32 array of shape {shape}")
        weights.append(w)
    if len([k for k in arrays if k.startswith("weights/")]) != len(shapes):
        raise NetworkError(f"{path.name}: holds more weight arrays than {model} has")
    masks = {}
    for key, m in arrays.items():
        if not key.startswith("mask/"):
            continue
        name = key.split("/", 1)[1]
        if (
            name not in spec.kernel_shapes
            or m.shape != tuple(spec.kernel_shapes[name])
            or not np.isin(m, (0.0, 1.0)).all()
        ):
            raise NetworkError(f"{path.name}: {key} is not a 0/1 mask of a {model} kernel")
        masks[name] = m.astype(np.float32)
    return Network(model=model, arm=arm, round=round_, weights=weights, masks=masks)


def weights_file_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """The arrays a run's weights.npz may hold: theta0 (`theta0/I`) and the reset point (`reset/I`)."""
    shapes = models.get_spec(model).weight_shapes()
    return {f"{prefix}/{i}": shape for prefix in ("theta0", "reset") for i, shape in enumerate(shapes)}


def load_theta0(folder: str | Path, model: str, sha256: str | None = None) -> list[np.ndarray]:
    """The run's initial weights theta0 (from weights.npz), checked against the sha256 its run records (when
    given) and the model's shapes."""
    path = Path(folder) / paths.WEIGHTS
    if path.is_symlink() or not path.is_file():
        raise NetworkError(
            f"the run keeps no initial weights ({paths.WEIGHTS}): made before they were kept, or not started"
        )
    check_sha256(path, sha256, "the run")
    shapes = models.get_spec(model).weight_shapes()
    try:
        arrays = read_npz(path, weights_file_shapes(model))
    except Exception as e:
        raise NetworkError(f"{paths.WEIGHTS} is not the initial weights of this {model} run: {e}") from None
    out = []
    for i, shape in enumerate(shapes):
        w = arrays.get(f"theta0/{i}")
        if w is None or w.shape != shape or not np.isfinite(w).all():
            raise NetworkError(f"{paths.WEIGHTS}: theta0/{i} is not a finite array of shape {shape}")
        out.append(w)
    return out


COMPRESSION_COLUMNS = (
    "arm",
    "round",
    "density",
    "params",
    "nonzero_params",
    "dense_macs",
    "nonzero_macs",
    "h5_bytes",
    "gzip_bytes",
)


def compression_table(records: list[dict]):
    """The compression report of a run's result records: one row per arm and round with non-zero
    parameters, multiply-accumulates per image (all, non-zero), the .h5 file's bytes and gzip'ed bytes and
    their ratio. Records of runs made before the report existed are left out."""
    import pandas as pd

    rows = [
        {k: r[k] for k in COMPRESSION_COLUMNS}
        for r in records
        if all(r.get(k) is not None for k in COMPRESSION_COLUMNS)
    ]
    frame = pd.DataFrame(rows, columns=list(COMPRESSION_COLUMNS))
    frame["compression_ratio"] = (frame["h5_bytes"] / frame["gzip_bytes"]).round(2)
    frame["mac_reduction"] = (frame["dense_macs"] / frame["nonzero_macs"].clip(lower=1)).round(2)
    frame["density"] = frame["density"].round(4)
    return frame.sort_values(["round", "arm"], kind="stable").reset_index(drop=True)
