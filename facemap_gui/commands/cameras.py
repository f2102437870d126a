"""`facemap-gui cameras`: the cameras present, by name, with their formats, and the backend that captures them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from facemap_gui.core.choices import CAMERA_BACKENDS

NO_CAMERAS = "no cameras found: connect one (and close apps using it), or use a video file or `demo` as the source"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "cameras",
        help="list the cameras by name, with their formats",
        description="List each camera: its index (camera:N), name, id and formats (size, frame rates, pixel "
        "format), as the chosen backend sees them.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--camera-backend", choices=CAMERA_BACKENDS, default="auto", help="list through this backend")
    parser.set_defaults(run=run)


def probe_camera_backend(backend: str = "auto") -> dict[str, str]:
    from facemap_gui.sources.camera import choose_backend

    chosen, why = choose_backend(backend)
    return {"backend": chosen, "reason": why}


def probe_cameras(backend: str = "auto") -> list[dict[str, Any]]:
    import facemap_gui.sources

    return [
        {
            "index": c.index,
            "name": c.name,
            "id": c.id,
            "spec": c.spec,
            "formats": [
                {
                    "width": f.width,
                    "height": f.height,
                    "min_fps": f.min_fps,
                    "max_fps": f.max_fps,
                    "pixel_format": f.pixel_format,
                }
                for f in c.formats
            ],
        }
        for c in facemap_gui.sources.list_cameras(backend)
    ]


def camera_lines(cameras: list[dict[str, Any]]) -> list[str]:
    from facemap_gui.sources import CameraFormat

    lines = []
    for camera in cameras:
        lines.append(f"  {camera['spec']:<9} {camera['name']}" + (f"  (id {camera['id']})" if camera["id"] else ""))
        lines.extend(f"      {CameraFormat(**f)}" for f in camera["formats"])
    return lines or [f"  {NO_CAMERAS}"]


def run(args: argparse.Namespace) -> int:
    backend = probe_camera_backend(args.camera_backend)
    cameras = probe_cameras(args.camera_backend)
    if args.json:
        print(json.dumps({"camera_backend": backend, "cameras": cameras}, indent=2))
    else:
        print(f"Backend: {backend['backend']} ({backend['reason']})")
        print("\n".join(camera_lines(cameras)))
    return 0
