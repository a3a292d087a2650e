"""Model bundles: a folder with every model's native weights and a manifest that says what
they are, what they were trained on, how well they did, and which code made them.

```
bundle/
  manifest.json          format, code version, input names, horizons, training config and
                         range, ensemble weights, validation (and test) metrics, sha256 of
                         every file below
  h15/ h60/ ...          one folder per horizon:
    lstm.pt  random_forest.joblib  xgboost.json  lightgbm.txt   (see models.py)
    preprocessing.json   scaler, target scale, confidence calibrations
```
Writes are atomic: `save_bundle` fills a hidden temporary folder beside the target and
renames it into place, and `update_manifest` replaces the manifest with a rename, so a
daemon that hot-reloads the bundle (`strategies/forecast/reload.py`) sees the old bundle or
the new one, never half of one. `bundle_version` names a bundle by its weights (a hash of
the files' sha256 and the creation time), so adding test metrics does not look like a new model.

Loading refuses a bundle whose input list differs from the running code's `INPUT_NAMES`
(the models would read columns in the wrong order), a newer format, or a file whose
sha256 does not match the manifest (a truncated copy, or an edited pickle). A different
code version only logs a warning: formulas may have changed without renaming a column,
and the operator should retrain, but an old bundle still serves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model import errors
from strategies.forecast.dataset import INPUT_NAMES
from strategies.forecast.ensemble import Calibration
from strategies.forecast.models import ModelParams, load_models
from strategies.forecast.scaling import Scaler
from strategies.forecast.training import HorizonModel, TargetScale, TrainConfig

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
_CODE_FILES = ("strategies/forecast/dataset.py", "strategies/forecast/indicators.py",
               "strategies/forecast/models.py", "strategies/forecast/scaling.py",
               "strategies/feature_columns.py", "strategies/features_batch.py",
               "strategies/windows.py", "strategies/regime.py")


class BundleError(errors.DataError):
    """The bundle cannot be served by this code; the message says what to do."""


def code_version() -> str:
    """sha256 (first 16 hex) of the source files that define the inputs and the models."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    return digest.hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bundle_version(manifest: dict[str, Any]) -> str:
    """A short name for the bundle's models: the manifest's `version`, or (bundles written
    before it existed) the same hash computed from its file digests and creation time."""
    version = manifest.get("version")
    if isinstance(version, str) and version:
        return version
    return _version_of(manifest.get("files", {}), manifest.get("created_ms", 0))


def _version_of(files: dict[str, str], created_ms: int) -> str:
    digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode())
    digest.update(str(created_ms).encode())
    return digest.hexdigest()[:12]


def manifest_signature(folder: Path) -> tuple[int, int, int] | None:
    """(inode, mtime ns, size) of the bundle's manifest, or None when there is none: a
    stat, cheap enough to run between decision steps to notice a replaced bundle."""
    try:
        stat = (Path(folder) / MANIFEST).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _write_atomically(path: Path, text: str) -> None:
    """Write `path` through a temporary file and a rename: readers see old or new text."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass
class Bundle:
    """Trained horizon models plus the manifest describing them."""

    horizons: dict[int, HorizonModel]
    config: TrainConfig
    manifest: dict[str, Any]

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    @property
    def seq_stride(self) -> int:
        return self.config.seq_stride


def _config_dict(config: TrainConfig) -> dict[str, Any]:
    return {**asdict(config), "horizons": list(config.horizons)}


def _config_from(data: dict[str, Any]) -> TrainConfig:
    return TrainConfig(horizons=tuple(data["horizons"]), folds=data["folds"],
                       embargo_minutes=data["embargo_minutes"], seq_len=data["seq_len"],
                       seq_stride=data["seq_stride"], row_stride=data["row_stride"],
                       scaler=data["scaler"], clip_quantile=data["clip_quantile"],
                       shrink=data["shrink"], seed=data["seed"],
                       params=ModelParams.from_dict(data["params"]))


def save_bundle(folder: Path, horizons: dict[int, HorizonModel], config: TrainConfig, *,
                data_source: str = "", extra: dict[str, Any] | None = None) -> Path:
    """Write a bundle into `folder` (created; refused if it already holds a manifest, or
    anything else). Written in a hidden sibling folder, then renamed into place."""
    folder = Path(folder)
    if (folder / MANIFEST).exists():
        raise BundleError(f"{folder} already holds a bundle; choose another --out or delete it")
    if folder.is_dir() and any(folder.iterdir()):
        raise BundleError(f"{folder} is not empty; choose another --out or empty it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        _write_bundle(staging, horizons, config, data_source, extra or {})
        if folder.is_dir():
            folder.rmdir()  # empty (checked above); rename cannot replace it otherwise
        os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _write_bundle(folder: Path, horizons: dict[int, HorizonModel], config: TrainConfig,
                  data_source: str, extra: dict[str, Any]) -> None:
    """Every file of a bundle into the existing, empty `folder`; the manifest last."""
    files: dict[str, str] = {}
    per_horizon: dict[str, Any] = {}
    for horizon, model in sorted(horizons.items()):
        sub = folder / f"h{horizon}"
        sub.mkdir(exist_ok=True)
        names = [m.save(sub) for m in model.models.values()]
        preprocessing = {"scaler": model.scaler.to_dict(),
                         "target": {"low": model.target.low, "high": model.target.high,
                                    "scale": model.target.scale},
                         "calibration": {k: c.to_dict() for k, c in model.calibration.items()}}
        (sub / "preprocessing.json").write_text(json.dumps(preprocessing))
        for name in names + ["preprocessing.json"]:
            files[f"h{horizon}/{name}"] = _sha256(sub / name)
        per_horizon[str(horizon)] = {
            "weights": model.weights, "validation_mse": model.validation,
            "fold_seconds": model.fold_seconds, "final_seconds": model.final_seconds,
            "train_rows": model.train_rows,
            "train_range_ms": list(model.train_range_ms)}
    created_ms = int(time.time() * 1000)
    manifest = {"format": FORMAT, "created_ms": created_ms,
                "version": _version_of(files, created_ms),
                "code_version": code_version(), "input_names": list(INPUT_NAMES),
                "horizons": sorted(horizons), "config": _config_dict(config),
                "data_source": data_source, "per_horizon": per_horizon, "files": files,
                "notes": "random_forest.joblib is a pickle: load only bundles you made.",
                **extra}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def update_manifest(folder: Path, **fields: Any) -> None:
    """Add fields (e.g. test metrics from `entasis forecast evaluate`) to a manifest."""
    path = Path(folder) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(fields)
    _write_atomically(path, json.dumps(manifest, indent=1, sort_keys=True))


def load_bundle(folder: Path) -> Bundle:
    """Read and verify a bundle; raises BundleError saying what is wrong and what to do."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise BundleError(f"no bundle at {folder} ({MANIFEST} missing); "
                          "train one with `entasis forecast train --data DIR --out PATH`")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise BundleError(f"{folder}: bundle format {manifest.get('format')} is not {FORMAT}; "
                          "retrain it with this version of Entasis")
    if tuple(manifest["input_names"]) != INPUT_NAMES:
        ours, theirs = set(INPUT_NAMES), set(manifest["input_names"])
        raise BundleError(
            f"{folder}: its feature list differs from this code's (missing here: "
            f"{sorted(theirs - ours)}, new here: {sorted(ours - theirs)}, or a different "
            "order); retrain with `entasis forecast train`")
    for name, digest in manifest["files"].items():
        file = folder / name
        if not file.is_file() or _sha256(file) != digest:
            raise BundleError(f"{file}: missing or altered (sha256 differs from the manifest); "
                              "copy the whole bundle again or retrain")
    if manifest["code_version"] != code_version():
        log.warning("forecast bundle %s was made by code version %s, this is %s: inputs may "
                    "be computed differently; retrain when convenient", folder,
                    manifest["code_version"], code_version())
    config = _config_from(manifest["config"])
    horizons = {}
    for horizon in manifest["horizons"]:
        sub = folder / f"h{horizon}"
        pre = json.loads((sub / "preprocessing.json").read_text())
        info = manifest["per_horizon"][str(horizon)]
        horizons[int(horizon)] = HorizonModel(
            horizon=int(horizon), scaler=Scaler.from_dict(pre["scaler"]),
            target=TargetScale(**pre["target"]),
            models=load_models(sub, config.params, len(INPUT_NAMES)),
            weights=info["weights"],
            calibration={k: Calibration.from_dict(v) for k, v in pre["calibration"].items()},
            validation=info["validation_mse"], fold_seconds=info["fold_seconds"],
            final_seconds=info["final_seconds"],
            train_rows=info["train_rows"], train_range_ms=tuple(info["train_range_ms"]))
    return Bundle(horizons, config, manifest)
