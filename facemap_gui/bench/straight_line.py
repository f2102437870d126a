"""The straight-line script `facemap-gui bench` compares the pipeline with: what one would write first.

Every frame: decode the video (PyAV, as the app), MediaPipe BlazeFace on the whole frame, crop the best face
1.2x, ONNX Runtime, decode the 265 parameters with the three basis files as written in Qualcomm's reference
(no folding), draw the points and the box with OpenCV. No tracking, no threads, no precomputation.
It depends only on the libraries, not on facemap_gui, so it stays a fair, independent baseline.

    python facemap_gui/bench/straight_line.py CLIP --model M.onnx --basis-dir DIR --detector D.tflite [--frames N]

prints one JSON object: frames, frames with a face, wall time and FPS (video decoding included).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import av
import cv2
import mediapipe as mp
import numpy as np
import onnxruntime as ort
from mediapipe.tasks.python import BaseOptions, vision


def rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    def rx(a: float) -> np.ndarray:
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    def ry(a: float) -> np.ndarray:
        return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])

    def rz(a: float) -> np.ndarray:
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])

    return ry(-yaw) @ rx(-pitch) @ rx(-math.pi) @ rz(-roll)


def landmarks(p: np.ndarray, box: tuple[int, int, int, int], basis: dict[str, np.ndarray]) -> np.ndarray:
    alpha_id, alpha_exp = p[0:219] * 3, p[219:258] * 0.5 + 0.5
    pitch, yaw, roll = p[258] * math.pi / 2, p[259] * math.pi / 2, p[260] * math.pi / 2
    shape = (basis["meanFace"] + basis["shapeBasis"] @ alpha_id + basis["blendShape"] @ alpha_exp).reshape(68, 3)
    vertices = shape @ rotation(pitch, yaw, roll).T
    vertices[:, 0] += p[261] * 60
    vertices[:, 1] += p[262] * 60
    xy = vertices[:, :2] * (p[263] * 150 + 450) / 500.0
    x0, y0, x1, y1 = box
    return np.stack([(xy[:, 0] + 64) * (x1 - x0 + 1) / 128 + x0, (xy[:, 1] + 64) * (y1 - y0 + 1) / 128 + y0], 1)


def run(clip: Path, model: Path, basis_dir: Path, detector_path: Path, frames: int) -> dict[str, float]:
    basis = {name: np.load(basis_dir / f"{name}.npy") for name in ("meanFace", "shapeBasis", "blendShape")}
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    detector = vision.FaceDetector.create_from_options(
        vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_path=str(detector_path)), running_mode=vision.RunningMode.VIDEO
        )
    )
    # Warm both models up before the clock starts, as the app does when it opens them.
    session.run(None, {"image": np.zeros((1, 3, 128, 128), np.float32)})
    detector.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)), 0)
    count = with_face = 0
    start = time.perf_counter()
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            rgb = frame.to_ndarray(format="rgb24")
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            found = detector.detect_for_video(image, count + 1).detections
            if found:
                b = max(found, key=lambda d: d.categories[0].score).bounding_box
                h, w = rgb.shape[:2]
                cx, cy, half_w, half_h = (
                    b.origin_x + b.width / 2,
                    b.origin_y + b.height / 2,
                    b.width * 0.6,
                    b.height * 0.6,
                )
                box = (
                    max(0, int(cx - half_w)),
                    max(0, int(cy - half_h)),
                    min(w - 1, int(cx + half_w)),
                    min(h - 1, int(cy + half_h)),
                )
                crop = cv2.resize(rgb[box[1] : box[3] + 1, box[0] : box[2] + 1], (128, 128))
                tensor = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
                params = session.run(None, {"image": tensor})[0][0].astype(np.float64)
                for x, y in landmarks(params, box, basis):
                    cv2.circle(rgb, (int(x), int(y)), 2, (255, 255, 255), -1)
                cv2.rectangle(rgb, box[:2], box[2:], (80, 200, 255), 2)
                with_face += 1
            count += 1
            if frames and count >= frames:
                break
    seconds = time.perf_counter() - start
    detector.close()
    return {
        "frames": count,
        "frames_with_face": with_face,
        "seconds": round(seconds, 4),
        "fps": round(count / seconds, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--basis-dir", type=Path, required=True)
    parser.add_argument("--detector", type=Path, required=True, help="BlazeFace .tflite (full range)")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = all)")
    args = parser.parse_args()
    result = run(args.clip, args.model, args.basis_dir, args.detector, args.frames)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
