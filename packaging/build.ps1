# Build the one-folder app into dist\facemap-gui\ (Windows). Run from a venv of a NATIVE Python 3.12 with
# the project installed with its `package` extra:  pip install -e ".[package]"
# On Windows on Snapdragon that Python must be ARM64: an x64 Python bundles the win_amd64 onnxruntime-qnn,
# whose QNN HTP backend cannot drive the NPU. Models in .\models, if any, are copied beside the executable.
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

$machine = python -c "import platform; print(platform.machine())"
if ($env:PROCESSOR_IDENTIFIER -match "Qualcomm|Snapdragon|ARMv8" -and $machine -ne "ARM64") {
    throw "This is a Snapdragon PC but python is $machine (emulated x64). Use a native ARM64 Python 3.12."
}
python -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller `
    packaging\facemap-gui.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
& dist\facemap-gui\facemap-gui.exe doctor
Write-Host "built dist\facemap-gui\ (facemap-gui.exe: command line; facemap-gui-window.exe: the app)"
