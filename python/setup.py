# SPDX-License-Identifier: Apache-2.0
"""Builds the varattn package: copies the C++ headers in as package data, writes the version
from CMakeLists.txt's project(), and compiles the op ahead of time when torch is importable.

    pip install --no-build-isolation ./python          # from the repository root

Environment: VARATTN_CUDA_ARCHS (default "80;90a"), VARATTN_HEAD_DIMS (e.g. "64,128"; default
all), VARATTN_NO_EXTENSION=1 (no ahead-of-time op: it is JIT-compiled at first import),
MAX_JOBS (parallel compiles, as for PyTorch's extensions).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import sys

from setuptools import setup

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGE = HERE / "varattn"


def version() -> str:
    cmake = ROOT / "CMakeLists.txt"
    if cmake.exists():
        found = re.search(r"project\(varattn\s+VERSION\s+([0-9.]+)", cmake.read_text())
        if found:
            return found.group(1)
    stamped = PACKAGE / "_version.py"  # an sdist: written when the sdist was made
    if stamped.exists():
        return re.search(r'"([^"]+)"', stamped.read_text()).group(1)
    raise RuntimeError("varattn: no version (CMakeLists.txt or varattn/_version.py)")


def stage_sources(v: str) -> None:
    """Headers and the license into the package (from the repository, when building there)."""
    (PACKAGE / "_version.py").write_text(
        f'# Written by setup.py from CMakeLists.txt.\n__version__ = "{v}"\n')
    if (ROOT / "include" / "varattn").is_dir():
        target = PACKAGE / "include" / "varattn"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "include" / "varattn", target)
        major, minor, patch = (v.split(".") + ["0", "0"])[:3]
        template = ROOT / "cmake" / "version.hpp.in"
        if template.exists() and not (target / "version.hpp").exists():
            text = template.read_text()
            for key, value in {"PROJECT_VERSION_MAJOR": major, "PROJECT_VERSION_MINOR": minor,
                               "PROJECT_VERSION_PATCH": patch, "PROJECT_VERSION": v}.items():
                text = text.replace(f"@{key}@", value).replace("${" + key + "}", value)
            (target / "version.hpp").write_text(text)
    if (ROOT / "LICENSE").exists():
        shutil.copy(ROOT / "LICENSE", PACKAGE / "LICENSE")


def extensions():
    if os.environ.get("VARATTN_NO_EXTENSION", "0") not in ("", "0"):
        print("varattn: VARATTN_NO_EXTENSION set: no ahead-of-time op (JIT at first import)")
        return [], {}
    try:
        import torch  # noqa: F401
        from torch.utils import cpp_extension
    except ImportError:
        print("varattn: torch is not importable here: no ahead-of-time op (JIT at first import);"
              " install with --no-build-isolation to build it", file=sys.stderr)
        return [], {}
    sys.path.insert(0, str(PACKAGE))
    import _ops  # the same arch and head-dim flags as the JIT build; imports only torch

    archs = _ops.arch_list(os.environ.get("VARATTN_CUDA_ARCHS", "80;90a"))
    nvcc = ["-O3", "-std=c++17", "--threads=2", *_ops.gencode_flags(archs)]
    config = _ops.config_include_dir(HERE / "build" / "config")  # VARATTN_HEAD_DIMS, if set
    csrc = PACKAGE / "csrc"
    sources = sorted(str(p.relative_to(HERE)) for p in [*csrc.glob("*.cu"), *csrc.glob("*.cpp")])
    ext = cpp_extension.CUDAExtension(
        "varattn._C", sources, include_dirs=[*config, str(PACKAGE / "include")],
        extra_compile_args={"cxx": ["-O3", "-std=c++17"], "nvcc": nvcc})
    print(f"varattn: building the op ahead of time for {archs}")
    return [ext], {"build_ext": cpp_extension.BuildExtension.with_options(use_ninja=True)}


v = version()
stage_sources(v)
ext_modules, cmdclass = extensions()
setup(version=v, ext_modules=ext_modules, cmdclass=cmdclass)
