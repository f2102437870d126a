"""Run options shared by every front end (process, bench, GUI), how they become a Pipeline, the demo's options."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from facemap_gui.core import store
from facemap_gui.core.errors import FacemapError, ModelError
from facemap_gui.inference.landmarks.decode import FoldedBasis
from facemap_gui.inference.runtime import LandmarkSession, RuntimeSettings, fall_back, open_landmark_session
from facemap_gui.models.folder import settle
from facemap_gui.perframe.detection import DETECTORS, FaceDetector
from facemap_gui.perframe.pipeline import Pipeline, PipelineConfig
from facemap_gui.perframe.tracking import REDETECT_EVERY
from facemap_gui.sources.demo import DEMO_LOOP

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    source: str = "camera:0"
    model: Path | None = None  # None: the installed model for `precision`
    basis_dir: Path | None = None  # None: the installed basis, or the stand-in's beside a stand-in model
    detector: Path | None = None  # None: the bundled BlazeFace model of `detector_range`
    detector_range: str | None = None  # None: "full" (a request only when given: it picks a bundled model)
    detector_backend: str = "mediapipe"  # "onnx": the same BlazeFace through ONNX Runtime, on `runtime` (NPU too)
    box: tuple[int, int, int, int] | None = None
    max_faces: int = 4
    min_score: float = 0.5
    expand_box: bool = True
    runtime: str = "cpu"
    precision: str = "float"
    allow_simulator: bool = False
    strict: bool = False
    tracking: bool | None = None  # follow faces between detections; None: wherever there is something to follow
    redetect_every: int = REDETECT_EVERY  # frames between full-frame detections while faces are tracked

    def model_path(self, precision: str | None = None) -> Path:
        """The model file for a precision. With --model, the name says the precision: `X.onnx` is the
        float model and `X_w8a8.onnx` beside it the w8a8 one (as `models stand-in --precision w8a8` writes)."""
        precision = precision or self.precision
        if self.model is None:
            settle()  # an install killed mid-swap is finished or rolled back before the model is looked for
            return store.require_landmark_model(precision)
        variant = self.variant_path(precision)
        if variant != self.model and not variant.is_file():
            raise ModelError(
                f"{variant}: no {precision} variant beside {self.model.name}; pass the --precision "
                f"of that file, or create both with `facemap-gui models stand-in DIR --precision w8a8`"
            )
        return variant

    def variant_path(self, precision: str) -> Path:
        """Where the --model file's variant of `precision` is (it may be missing)."""
        assert self.model is not None
        stem = self.model.stem.removesuffix("_w8a8")
        return self.model.with_name(f"{stem}_w8a8.onnx" if precision == "w8a8" else f"{stem}.onnx")

    def basis_path(self, model_path: Path) -> Path:
        if self.basis_dir:
            return self.basis_dir
        # A model shipped with its own basis (stand-ins, unpacked zips) uses the files beside it.
        beside = model_path.parent
        return beside if (beside / "meanFace.npy").is_file() else store.basis_dir()

    def detector_path(self) -> Path:
        if self.detector is not None and self.detector_range is not None:
            raise FacemapError(
                f"--detector-range {self.detector_range}: not with --detector {self.detector} (the range picks "
                "one of the bundled detectors; leave out one of the two)"
            )
        return self.detector or store.bundled_detector_path(self.detector_range or "full")

    def tracking_fallback(self, video: bool) -> str | None:
        """Why tracking, asked for with --tracking, cannot run here (an error under --strict), or None."""
        if not self.tracking:
            return None
        if self.box is not None:
            reason = "--box gives the face on every frame: there is nothing to track"
        elif not video:
            reason = "still images are unrelated pictures: nothing to follow from one to the next"
        elif self.redetect_every < 2:
            reason = "--redetect-every 1 runs the detector on every frame"
        else:
            return None
        return fall_back(self.runtime_settings(), "--tracking", FacemapError(reason))

    def check_files(self) -> None:
        """Raise the one-line error a run would meet for a missing model, basis or detector: a batch checks
        once here instead of failing every file with it."""
        basis = self.basis_path(self.model_path())
        FoldedBasis.load(basis)
        if self.box is None and not self.detector_path().is_file():
            raise ModelError(f"{self.detector_path()}: detector model not found; pass an existing --detector")

    def runtime_settings(self) -> RuntimeSettings:
        return RuntimeSettings(allow_simulator=self.allow_simulator, strict=self.strict)


def open_detector(options: RunOptions, video: bool = True) -> FaceDetector | None:
    if options.box is not None:
        return None
    if options.detector_backend == "onnx":
        return DETECTORS["onnx"](
            options.detector_path(),
            runtime=options.runtime,
            settings=options.runtime_settings(),
            min_score=options.min_score,
            max_faces=options.max_faces,
        )
    return DETECTORS["mediapipe"](
        options.detector_path(), video=video, min_score=options.min_score, max_faces=options.max_faces
    )


def open_session(options: RunOptions, runtime: str, precision: str) -> LandmarkSession:
    """A session for the model of `precision` on `runtime` (the seam live switching uses too); falls back
    (NPU/GPU → CPU, w8a8 → float) only with a reason in `session.info`, and not at all with --strict. Its
    ModelInfo's provenance covers the model and the basis the run uses."""
    return open_landmark_session(
        options.model_path, runtime, precision, options.runtime_settings(), basis=options.basis_path
    )


def build_pipeline(options: RunOptions, video: bool = True) -> Pipeline:
    """The model session (its I/O is checked before ORT sees it) and the basis; MediaPipe's detector is set up
    meanwhile on a thread of its own (its graph is built in native code, ~0.25 s of start-up). The ONNX
    detector is an ORT session like the model's and is created after it."""
    untracked = options.tracking_fallback(video)  # first: with --strict nothing is opened in vain
    if untracked:
        log.warning("tracking: asked for, running without because %s", untracked)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector set-up") as setup:
        pending = setup.submit(open_detector, options, video) if options.detector_backend == "mediapipe" else None
        try:
            session = open_session(options, options.runtime, options.precision)
            basis = FoldedBasis.load(options.basis_path(session.model.path))
        except BaseException:
            with contextlib.suppress(Exception):
                if pending is not None and (unused := pending.result()) is not None:
                    unused.close()
            raise
        detector = pending.result() if pending is not None else open_detector(options, video=video)
    if session.model.stand_in:
        summary = session.model.provenance.summary()
        log.warning("a STAND-IN model or basis (%s): its landmarks are not real", summary)
    config = PipelineConfig(
        expand_box=options.expand_box,
        fixed_box=options.box,
        tracking=options.tracking is not False and video,  # still images: nothing to track from one to the next
        redetect_every=options.redetect_every,
        tracking_fallback=untracked,
    )
    return Pipeline(detector, session, basis, config)


def demo_options() -> RunOptions:
    """The real model when installed, else the full-architecture stand-in."""
    options = RunOptions(source=DEMO_LOOP)
    if store.landmark_model_path("float").is_file():
        return options
    log.warning(
        "the facemap_3dmm model is not installed: using a generated STAND-IN with random weights "
        "(run `facemap-gui models download` for the real one)"
    )
    return with_stand_in(options)


def with_stand_in(options: RunOptions) -> RunOptions:
    """The generated stand-in as the model, every request kept (the one way front ends swap it in): it has both
    precisions, and whatever cannot run falls back with its reason, or fails with --strict, as with any model."""
    return dataclasses.replace(options, model=stand_in_model())


def stand_in_model() -> Path:
    """The full-architecture stand-in (float, with its w8a8 variant beside it) in the data directory, generated
    the first time."""
    model = store.stand_in_dir("full") / store.landmark_model_path("float").name
    if not model.is_file():
        from facemap_gui.models.standins import write_stand_in  # writing one needs onnx (~0.6 s to import)

        # The float model is written last, so its presence means the w8a8 variant is there too.
        write_stand_in(model.parent, arch="full", precision="w8a8")
    return model
