"""Recording: the annotated video, with the landmarks of every recorded frame beside it, on its own thread.

Public API (used by the GUI and by `facemap-gui process --record`; keep it stable):

    recorder = Recorder(video_path, fps=source.fps, size=(width, height),
                        header=output.header_record(options, source, pipeline), csv=False)
        Creates VIDEO (.mkv: Matroska, .mp4: fragmented MP4), VIDEO.jsonl (and VIDEO.csv with csv=True) and
        starts the writer thread. Raises FacemapError (one line naming the path and the fix) when a file already
        exists (a recording never overwrites), the folder cannot be written, the suffix is not .mkv/.mp4, or
        no encoder works. Encoder: libx264 `ultrafast`, else mpeg4 (logged as a warning; `status.codec`).
    recorder.submit(result, annotated_rgb) -> bool
        Never blocks: queues the frame and returns True, or drops it (counted in `frames_dropped`) and returns
        False when the bounded queue (`queue_size`, default 32 frames) is full. False too once stopped/closed.
        The array is kept, NOT copied: pass one the caller will not modify later (e.g. the fresh array
        `draw_overlay(frame.rgb.copy(), ...)` returns). `wait=True` waits for room instead (offline files).
    recorder.status -> RecorderStatus (frozen): video_path, landmarks_path, csv_path, codec, frames_written,
        frames_dropped, bytes_written, elapsed_s, error (one line, set when the writer stopped itself, e.g.
        disk full; also logged as a warning), running. Cheap: poll it from a timer for the UI.
    recorder.close() -> RecorderStatus
        Encodes what is queued, finishes the files (summary line with frames written/dropped), joins the
        thread. Idempotent and safe after an error. Always call it (a `finally`, or window close).
    default_recording_path(folder, suffix=".mkv", now=None) -> Path
        folder/facemap-YYYY-MM-DD_HH-MM-SS.mkv, never a name whose video or landmark files exist.

What reaches the disk: frames at their source timestamps (pts in ms from the first recorded frame, so playback
is real time when frames were dropped), a keyframe each second of media time; the container is flushed at
each keyframe and every landmark line is flushed, so after `kill -9` the video plays up to about a second
before the kill and the JSONL holds only complete lines. Files are written under their final names for that
reason (no temporary name to rename: a recording is valid at every moment).
The JSONL has the schema of `process --output`: the given header (plus a "recording" object), one
`frame_record` per recorded frame (dropped frames have none; `frame` and `timestamp_ms` count from the first
recorded frame, as the video's time does), and a summary with `frames` (written) and
`frames_dropped`. The CSV has one row per face per frame, columns `CSV_COLUMNS`.
"""

from facemap_gui.sinks.recording.landmarks import CSV_COLUMNS
from facemap_gui.sinks.recording.recorder import (
    STILL_FPS,
    Recorder,
    RecorderStatus,
    default_recording_path,
    landmark_paths,
    recording_format,
)
from facemap_gui.sinks.recording.video import VIDEO_CODECS

__all__ = [
    "CSV_COLUMNS",
    "STILL_FPS",
    "VIDEO_CODECS",
    "Recorder",
    "RecorderStatus",
    "default_recording_path",
    "landmark_paths",
    "recording_format",
]
