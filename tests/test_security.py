"""SECURITY.md's promises that a reading of the source can check: network code in one place, HTTPS-only
catalogue, no shell or dynamic code. (Pickle and shell=True: tests/test_architecture.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

from facemap_gui.models.catalogue import ENTRIES
from tests.test_architecture import PACKAGE, imported_modules

NETWORK_MODULES = {"socket", "http", "urllib", "requests", "httpx", "aiohttp", "ftplib", "smtplib", "ssl", "websockets"}
DOWNLOADER = PACKAGE / "models" / "download.py"


def called_names(path: Path) -> set[str]:
    """`f` and `a.b` for every call `f(...)` / `a.b(...)` in the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                names.add(f"{func.value.id}.{func.attr}")
    return names


def test_only_the_downloader_and_the_stream_sender_touch_the_network():
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if {m.split(".")[0] for m in imported_modules(path) if m != "urllib.parse"} & NETWORK_MODULES
    )
    # network.py only parses (urllib.parse); vts.py speaks VTube Studio's WebSocket API.
    assert users == ["models/download.py", "sinks/streaming/udp.py", "sinks/streaming/vts.py"]


def test_no_shell_and_no_dynamic_code():
    forbidden = {"eval", "exec", "os.system", "os.popen", "compile", "__import__"}
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(called_names(path) & forbidden) for path in PACKAGE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    # The check must see a call written either way.
    assert {"ast.walk", "sorted"} <= called_names(Path(__file__))


def test_every_catalogue_url_is_https():
    urls = [remote.url for entry in ENTRIES.values() for remote in entry.files]
    assert urls and all(url.startswith("https://") for url in urls), urls
