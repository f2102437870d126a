"""The metadata file of Qualcomm's release zips (`metadata.json`, or `metadata.yaml` in older releases): runtime,
precision, tool versions and, per input/output tensor, shape, dtype and quantisation parameters."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from facemap_gui.core.errors import ModelError

METADATA_FILES = ("metadata.json", "metadata.yaml", "metadata.yml")
STAND_IN_FIELD = "facemap_gui_stand_in"  # set in the replicas the tests make, never in Qualcomm's files
# Other spellings of the I/O types, read as the numpy names the app uses.
DTYPE_ALIASES = {"float": "float32", "fp32": "float32", "half": "float16", "fp16": "float16"}
MAX_METADATA_BYTES = 1 << 20  # Qualcomm's are ~2 kB; a larger file is not release metadata


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: release metadata has none, and aliases of aliases expand exponentially (a
    2 kB "billion laughs" file takes gigabytes once loaded)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1
            raise yaml.YAMLError(f"a YAML alias on line {line}: refused, release metadata has none")
        return super().compose_node(parent, index)


@dataclass(frozen=True)
class TensorSpec:
    dtype: str | None = None
    shape: tuple[int | str, ...] | None = None
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class ReleaseMetadata:
    path: Path
    runtime: str = ""
    precision: str = ""
    tool_versions: dict[str, str] = field(default_factory=dict)
    tensors: dict[str, TensorSpec] = field(default_factory=dict)
    stand_in: bool = False


def find_metadata(folder: Path) -> Path | None:
    """The metadata file in `folder`, if it has one."""
    return next((folder / name for name in METADATA_FILES if (folder / name).is_file()), None)


def _zero_point(value: Any, path: Path, name: str) -> int:
    """A zero point from the file: a whole number (JSON's 1e400 is infinity, which no integer holds)."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float (YAML has them)
        number = math.nan
    if not (math.isfinite(number) and number.is_integer()):
        raise ModelError(
            f"{path}: tensor '{name}' has zero point {value!r}, not a whole number; the file is damaged: "
            "download the release zip again, or delete it to use the model without it"
        )
    return int(number)


def _tensors(section: Any, path: Path) -> dict[str, TensorSpec]:
    # Either {name: {...}} or [{"name": ..., ...}]; quantisation under "quantization_parameters" (or flat).
    items = section.items() if isinstance(section, dict) else ((t.get("name"), t) for t in section or [])
    tensors = {}
    for name, spec in items:
        quant = spec.get("quantization_parameters") or spec
        scale, zero_point = quant.get("scale"), quant.get("zero_point")
        shape = spec.get("shape")
        tensors[str(name)] = TensorSpec(
            dtype=None
            if spec.get("dtype") is None
            else DTYPE_ALIASES.get(str(spec["dtype"]).lower(), str(spec["dtype"]).lower()),
            shape=tuple(shape) if isinstance(shape, list) else None,
            scale=None if scale is None else float(scale),
            zero_point=None if zero_point is None else _zero_point(zero_point, path, str(name)),
        )
    return tensors


def read_metadata(path: Path) -> ReleaseMetadata:
    """Parse a metadata file; ModelError naming it when it is not what a release holds."""
    fix = "download the release zip again, or delete the file to use the model without it"
    try:
        if path.stat().st_size > MAX_METADATA_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes, more than {MAX_METADATA_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_NoAliasLoader)
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        versions = data.get("tool_versions") or {}
        tensors = {**_tensors(data.get("inputs"), path), **_tensors(data.get("outputs"), path)}
        return ReleaseMetadata(
            path=path,
            runtime=str(data.get("runtime", "")),
            precision=str(data.get("precision", "")),
            tool_versions={str(k): str(v) for k, v in versions.items() if v is not None},
            tensors=tensors,
            stand_in=bool(data.get(STAND_IN_FIELD, False)),
        )
    # RecursionError: nesting deeper than Python's stack (a 200,000-deep JSON list); OverflowError: int(1e400).
    except (
        OSError,
        UnicodeDecodeError,
        ValueError,
        yaml.YAMLError,
        TypeError,
        AttributeError,
        KeyError,
        RecursionError,
        OverflowError,
        MemoryError,
    ) as exc:
        detail = f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
        raise ModelError(f"{path}: not a readable release metadata file ({detail}); {fix}") from exc


def check_scale(where: str, name: str, scale: float) -> None:
    """A quantised tensor's scale must be a positive finite number, or every value it carries is wrong."""
    if not (math.isfinite(scale) and scale > 0):
        raise ModelError(
            f"{where}: tensor '{name}' has quantisation scale {scale}, not a positive number; the "
            "model is damaged: download it again"
        )


def format_tool_versions(versions: dict[str, str]) -> str:
    return ", ".join(f"{tool} {version}" for tool, version in versions.items())


def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


# Tool-version keys of the metadata (spelt loosely) → the installed version they are compared with (as doctor
# names it) and the package that upgrades it (onnxruntime-qnn ships the QNN SDK).
TOOL_PACKAGES = {
    "onnxruntime": ("onnxruntime", "onnxruntime"),
    "qairt": ("qnn-sdk", "onnxruntime-qnn"),
    "qnn": ("qnn-sdk", "onnxruntime-qnn"),
    "qnnsdk": ("qnn-sdk", "onnxruntime-qnn"),
    "onnxruntimeqnn": ("onnxruntime-qnn", "onnxruntime-qnn"),
}


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version ("2.42.0.251225" → (2, 42, 0, 251225)); () when it has none."""
    numbers = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def tool_version_warnings(metadata: ReleaseMetadata, installed: dict[str, str | None]) -> list[str]:
    """A line for each tool the release was built with whose installed version (`installed`: distribution →
    version, as doctor reports them) is older: ONNX Runtime and QNN may then run it differently or not at all."""
    warnings = []
    for tool, built in metadata.tool_versions.items():
        name, package = TOOL_PACKAGES.get(_key(tool), (None, None))
        have = installed.get(name) if name else None
        if have and _release(have) and _release(built) and _release(have) < _release(built):
            warnings.append(
                f"{metadata.path}: the model was built with {tool} {built} but {name} {have} is "
                f"installed; upgrade it (`pip install -U {package}`)"
            )
    return warnings
