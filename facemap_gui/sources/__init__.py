"""Frame sources: camera, video file, image(s) and the built-in demo clip, behind one interface and registry."""

from facemap_gui.sources.base import (
    Frame,
    FrameSource,
    lower_reader_priority,
    open_source,
    register_file_type,
    register_scheme,
    registered_schemes,
)
from facemap_gui.sources.camera import CameraFormat, CameraInfo, list_cameras, open_camera
from facemap_gui.sources.demo import DemoSource
from facemap_gui.sources.files import ImageSource, VideoSource, is_image_path, is_video_path

register_scheme("camera", open_camera)
register_scheme("demo", DemoSource)
register_file_type(is_image_path, ImageSource)
register_file_type(is_video_path, VideoSource)

__all__ = [
    "CameraFormat",
    "CameraInfo",
    "Frame",
    "FrameSource",
    "list_cameras",
    "lower_reader_priority",
    "open_source",
    "register_file_type",
    "register_scheme",
    "registered_schemes",
]
