"""The names and defaults that command-line options and settings accept, in a module that imports nothing, so
every command's parser builds without loading numpy, OpenCV, ONNX or ONNX Runtime (`facemap-gui --help`)."""

PRECISIONS = ("float", "w8a8")  # the float model and its 8-bit quantised variant
RUNTIME_NAMES = ("npu", "gpu", "cpu")  # the only runtime names, in menu order (runtime.registry's keys)
# Frames between full-frame detections while faces are tracked: a face coming into the picture is found within
# about a second at 30 fps, while each pass's CPU time stays a small share of the stream's.
REDETECT_EVERY = 30
DEFAULT_STRENGTH = 0.5  # One Euro smoothing strength
# A batch's own files in its output folder (docs/batch.md): no input's outputs may take these names.
BATCH_FAILURES = "failures.jsonl"
BATCH_LOCK = ".facemap-gui-batch.lock"  # hidden, so discovery never takes it for an input
CAMERA_BACKENDS = ("auto", "qt", "opencv")  # auto: Qt Multimedia where it loads, OpenCV otherwise
# The default camera format: the largest at or below this size with at least this rate; the model needs 128x128
# crops of the face, so a larger picture only costs conversion and detector time.
DEFAULT_CAMERA_SIZE = (1280, 720)
MIN_CAMERA_FPS = 30.0
# What every message says of the x86 QNN HTP simulator's speed (where the figure comes from: docs/performance.md).
SIMULATOR_SLOWER = "100-500x slower than the CPU"
