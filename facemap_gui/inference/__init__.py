"""The landmark model (its I/O, release metadata and the decoding of its output) and the ONNX Runtime
runtimes that run it and the detector."""
