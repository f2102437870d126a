#!/usr/bin/env bash
# Build the one-folder app into dist/facemap-gui/ (Linux), then run its `doctor` as a smoke test.
# Needs the project installed with its `package` extra: pip install -e ".[package]"; PYTHON picks the
# interpreter (default: python). Models in ./models, if any, are copied beside the executable.
set -euo pipefail
cd "$(dirname "$0")/.."
"${PYTHON:-python}" -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
  packaging/facemap-gui.spec
dist/facemap-gui/facemap-gui doctor
