"""Hot reload of the forecast bundle: notice a retrained bundle between decision steps, load
it off the event loop, check it, and swap it in — or refuse it and keep serving the old one.

Why it is cheap enough to run before every decision step: `BundleWatcher.poll` does nothing
until `every_s` seconds have passed since its last look, then one `stat` of manifest.json;
only when the manifest's (inode, mtime, size) changed does it read the manifest (a few kB)
and compare its `bundle_version` with the one serving. A changed version becomes a
`ReloadJob`, whose `run` loads and verifies the whole bundle (seconds: four models) and is
safe in a worker thread because it touches nothing the engine reads; the service adopts
its result on the loop, between two steps, so a step never mixes two bundles.

A bundle that cannot serve (unreadable manifest, another feature list, a horizon or weights
mode it lacks, a file whose sha256 differs, models predicting NaN) is refused once, keyed by
the manifest's sha256, so a bad bundle is logged and notified once rather than every minute.
A failure while the folder was being replaced under the loader is not a refusal: the next
look retries. Writers make that rare: `save_bundle` and `update_manifest` write atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from strategies.forecast.bundle import (
    MANIFEST,
    Bundle,
    BundleError,
    bundle_version,
    load_bundle,
    manifest_signature,
)
from strategies.forecast.dataset import INPUT_NAMES
from strategies.forecast.serving import Forecaster

log = logging.getLogger(__name__)

Signature = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class BundleSwapped:
    """A new bundle serves from the next decision step on."""

    path: str
    version: str
    previous: str
    code_version: str | None


@dataclass(frozen=True, slots=True)
class BundleRefused:
    """A new bundle was found but cannot serve; `keeping` still does."""

    path: str
    version: str | None  # None when its manifest could not even be read
    keeping: str
    reason: str


@dataclass(frozen=True, slots=True)
class Candidate:
    """A manifest that differs from the serving bundle's (what `poll` found)."""

    signature: Signature
    digest: str  # sha256 of the manifest's bytes: the key of a refusal
    version: str | None
    error: str | None = None  # the manifest itself is unreadable


class ReloadJob:
    """Loads one candidate bundle. `run` may run in a worker thread: it only reads files and
    builds a new `Forecaster`; the service adopts `forecaster` (or reports `error`) later."""

    def __init__(self, path: Path, candidate: Candidate,
                 build: Callable[[Bundle], Forecaster]) -> None:
        self.path = path
        self.candidate = candidate
        self.build = build
        self.forecaster: Forecaster | None = None
        self.error: str | None = candidate.error

    def run(self) -> None:
        """Load, verify and smoke-test the bundle; never raises (the error is kept)."""
        if self.error is not None:
            return
        try:
            bundle = load_bundle(self.path)
            found = bundle_version(bundle.manifest)
            if found != self.candidate.version:
                raise BundleError(f"{self.path} changed while loading ({found})")
            forecaster = self.build(bundle)
            _smoke_test(forecaster)
        except Exception as exc:  # noqa: BLE001  (whatever a bad bundle raises: the old serves)
            self.error = f"{type(exc).__name__}: {exc}"
            return
        self.forecaster = forecaster


def _smoke_test(forecaster: Forecaster) -> None:
    """One forecast of two flat windows: weights that load but predict NaN are refused."""
    windows = np.zeros((2, forecaster.seq_len, len(INPUT_NAMES)), np.float32)
    batch = forecaster.predict(windows)
    if not (np.isfinite(batch.expected_return).all() and np.isfinite(batch.confidence).all()):
        raise BundleError("its models predict non-finite values on a flat market; retrain it")


class BundleWatcher:
    """Notices a replaced bundle in `path` at most every `every_s` seconds (0 = never)."""

    def __init__(self, path: Path, version: str, every_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.version = version
        self.every_s = every_s
        self.clock = clock
        # None: the first look reads the manifest, in case it changed since the load
        self._signature: Signature | None = None
        self._last_look = clock()
        self._refused: set[str] = set()
        self._missing_logged = False

    def poll(self) -> Candidate | None:
        """A manifest with another version than the serving one, if due and there is one."""
        if self.every_s <= 0 or self.clock() - self._last_look < self.every_s:
            return None
        self._last_look = self.clock()
        signature = manifest_signature(self.path)
        if signature is None:
            if not self._missing_logged:  # a bundle being swapped in, or deleted
                log.warning("forecast: no %s in %s; still serving bundle %s", MANIFEST,
                            self.path, self.version)
                self._missing_logged = True
            return None
        self._missing_logged = False
        if signature == self._signature:
            return None
        try:
            raw = (self.path / MANIFEST).read_bytes()
        except OSError:
            return None  # replaced between the stat and the read: look again next time
        self._signature = signature
        digest = hashlib.sha256(raw).hexdigest()
        if digest in self._refused:
            return None
        try:
            version: str | None = bundle_version(json.loads(raw))
        except (ValueError, AttributeError, TypeError) as exc:
            return Candidate(signature, digest, None, f"its {MANIFEST} is unreadable ({exc}); "
                             "copy the whole bundle again or retrain")
        if version == self.version:
            return None  # the same models (e.g. `forecast evaluate` added test metrics)
        return Candidate(signature, digest, version)

    def accepted(self, version: str) -> None:
        """The candidate now serves."""
        self.version = version

    def failed(self, candidate: Candidate) -> bool:
        """The candidate did not load. Returns True when that is a refusal (the folder is
        still what was loaded), False when the folder changed meanwhile (retried later)."""
        if manifest_signature(self.path) != candidate.signature:
            self._signature = None  # make the next look read the manifest again
            return False
        self._refused.add(candidate.digest)
        return True
