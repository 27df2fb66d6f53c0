"""The two build steps ``pyproject.toml`` cannot declare.

1. The terms library travels with the package. ``policies/`` stays at the repository root; a
   regular (non-editable) build copies it into the package as ``provenance/_library/``, where
   :func:`provenance.policy.loader.default_policy_dir` finds it through ``importlib.resources``.
   An editable install reads the checkout's ``policies/`` directly, so an edit is seen at once.
2. The native accelerator (``provenance/_native.c``) is optional. Its build is tried by default and
   a failed build (no C compiler, no Python or OpenSSL headers) leaves a working pure-Python install
   with the same results (:mod:`provenance.native`). ``PROVENANCE_BUILD_NATIVE=0`` skips the try;
   ``PROVENANCE_BUILD_NATIVE=1`` makes a failed build an error (release builds use it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
LIBRARY = "policies"
PACKAGED_LIBRARY = Path("provenance") / "_library"


class BuildPyWithLibrary(build_py):
    """``build_py`` that also copies the terms library (its YAML files) into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = ROOT / LIBRARY
        target = Path(self.build_lib) / PACKAGED_LIBRARY
        if target.exists():
            shutil.rmtree(target)
        for path in sorted(source.rglob("*.yaml")):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)


def native_extensions() -> list[Extension]:
    choice = os.environ.get("PROVENANCE_BUILD_NATIVE", "").strip().lower()
    if choice in {"0", "off", "false", "no"}:
        return []
    return [
        Extension(
            "provenance._native",
            sources=["provenance/_native.c"],
            libraries=["crypto"],
            extra_compile_args=["-Wall", "-Wextra"],
            optional=choice not in {"1", "on", "true", "yes"},
        )
    ]


setup(ext_modules=native_extensions(), cmdclass={"build_py": BuildPyWithLibrary})
