"""The JSON Lines of `facemap-gui process` are the pipeline's results and nothing else: the command (decoding on
its own thread, the commands' late imports, the writer) gives byte for byte the records of the pipeline run
frame by frame in the plainest way, timings excluded. Speed work on the command may not change one digit."""

from __future__ import annotations

import json

from facemap_gui.cli import main
from facemap_gui.run.pipeline_builder import RunOptions, build_pipeline
from facemap_gui.sinks.output import frame_record
from facemap_gui.sources import open_source


def without_timings(record: dict) -> str:
    return json.dumps({k: v for k, v in record.items() if k != "timings_ms"}, sort_keys=True)


def test_process_writes_exactly_the_pipelines_records(tmp_path, pan_video, tiny_model):
    out = tmp_path / "out.jsonl"
    assert main(["process", str(pan_video), "--model", str(tiny_model), "--redetect-every", "8", "-o", str(out)]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    frames = [without_timings(r) for r in written if r["type"] == "frame"]

    options = RunOptions(source=str(pan_video), model=tiny_model, redetect_every=8)
    expected = []
    with open_source(str(pan_video)) as source:
        pipeline = build_pipeline(options)
        try:
            for frame in iter(source.read, None):
                expected.append(without_timings(frame_record(pipeline.process(frame))))
        finally:
            pipeline.close()
    # Frame 0 detected on its path, 8, 16 and 24 in the background: both ways of finding faces are compared.
    assert len(expected) == 30 and sum('"background_detection": true' in r for r in expected) == 3
    assert all('"faces": []' not in r for r in expected)  # a face on every frame: the landmarks are compared
    assert frames == expected
