"""The test run of a landmark model, bounded: a hostile graph (a Loop of 10^9 iterations, a constant MatMul
chain that takes ONNX Runtime 33 s and 1.7 GB to fold) is built and run in a child process with a time
limit and, where the OS has one, a memory limit, and killed past either; the parent waits in short slices,
so Ctrl+C and SIGTERM end it at once whatever ONNX Runtime is doing in the child."""

from __future__ import annotations

import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from facemap_gui.core import store
from facemap_gui.core.errors import ModelError
from facemap_gui.inference.landmarks.decode import NUM_PARAMS
from facemap_gui.inference.landmarks.model import ModelInfo
from facemap_gui.inference.runtime.base import RuntimeInfo
from facemap_gui.inference.runtime.session import (
    CPU_EP,
    MAX_PARAMETER,
    CpuRuntime,
    LandmarkSession,
    base_session_options,
    create_session,
    ort_error_line,
)

# From the moment the child has imported ONNX Runtime: building the session and one run on a test crop. The
# real model takes ~0.5 s; a slow laptop on battery a few.
CHECK_SECONDS = 20.0
# Address space of the child (Linux and macOS: RLIMIT_AS): Python, numpy and ONNX Runtime reserve ~0.9 GB
# before the model; the real one adds ~0.2 GB. Windows has no such limit: the time limit bounds it there.
CHECK_ADDRESS_SPACE = 2 * 2**30
FIX = "it is not a working facemap_3dmm model: download or export it again"


def _check(model: ModelInfo) -> None:
    """Run the model once on the CPU on a test crop and check that it gives 265 finite, sane values."""
    options = base_session_options()
    options.intra_op_num_threads = 1  # one crop needs no more; each thread would reserve address space
    session, _ = create_session(model.path, options, [CPU_EP], ModelError)
    crop = np.linspace(0.0, 1.0, 3 * 128 * 128, dtype=np.float32).reshape(1, 3, 128, 128)
    try:
        output = LandmarkSession(session, model, RuntimeInfo("cpu", "", CpuRuntime.label)).run(crop)
    except Exception as exc:  # ORT's own exception types
        raise ModelError(f"{model.path}: fails when run on a test crop ({ort_error_line(exc)}); {FIX}") from exc
    if output.shape != (1, NUM_PARAMS):
        raise ModelError(
            f"{model.path}: computes an output of shape {list(output.shape)} for one crop, not [1, {NUM_PARAMS}]; {FIX}"
        )
    if not np.isfinite(output).all():
        raise ModelError(f"{model.path}: outputs NaN or infinite values on a test crop; {FIX}")
    if np.abs(output).max() > MAX_PARAMETER:
        raise ModelError(
            f"{model.path}: outputs values up to {np.abs(output).max():.3g} on a test crop (a working "
            f"model's are about 1); {FIX}"
        )


def _child(model: ModelInfo, address_space: int, conn: Connection) -> None:
    """In the child: say it is ready (imports done), then send None or the one-line problem. Its stderr goes
    nowhere: whatever it dies of, the user gets the parent's one line."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    except (ImportError, ValueError, OSError):  # Windows has no resource module; a hard limit below ours stays
        pass
    conn.send("ready")
    try:
        _check(model)
        conn.send(None)
    except (ModelError, MemoryError) as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, MemoryError) or "Failed to allocate memory" in str(cause):  # ORT's arena says so
            conn.send(f"{model.path}: needs more than the {address_space / 2**30:.0f} GB its test run may use; {FIX}")
        else:
            conn.send(str(exc))


def _receive(conn: Connection, seconds: float | None) -> object:
    """The child's next message, waited for in short slices so that a signal's KeyboardInterrupt gets through
    on every OS; EOFError when the child died first, TimeoutError past `seconds`."""
    deadline = None if seconds is None else time.monotonic() + seconds
    while not conn.poll(0.1):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
    return conn.recv()


def check_model_runs(model: ModelInfo) -> None:
    """The bounded test run (see the module's docstring); ModelError naming the file when the model fails it,
    takes longer than CHECK_SECONDS or more memory than CHECK_ADDRESS_SPACE. A model that passes is noted by
    its sha256 for `check_model_once`."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: none of the parent's threads or state
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(model, CHECK_ADDRESS_SPACE, sender), daemon=True)
    process.start()
    sender.close()
    try:
        _receive(receiver, None)  # the child's imports: not the model's time
        verdict = _receive(receiver, CHECK_SECONDS)
    except TimeoutError:
        verdict = f"{model.path}: took longer than {CHECK_SECONDS:.0f} s to load and run on a test crop; {FIX}"
    except EOFError:
        process.join()
        verdict = (
            f"{model.path}: ONNX Runtime crashed (exit code {process.exitcode}) loading or running it on a "
            f"test crop; {FIX}"
        )
    finally:
        process.kill()
        process.join()
        receiver.close()
    if verdict is not None:
        raise ModelError(str(verdict))
    _passed(model.sha256).parent.mkdir(parents=True, exist_ok=True)
    _passed(model.sha256).touch()


def _passed(sha256: str) -> Path:
    return store.cache_dir() / "checked-models" / sha256


def check_model_once(model: ModelInfo) -> None:
    """`check_model_runs` unless a file with the same sha256 passed it before (installs check theirs)."""
    if not _passed(model.sha256).is_file():
        check_model_runs(model)
