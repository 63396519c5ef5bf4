# SPDX-License-Identifier: Apache-2.0
"""Loads the op library: the one built ahead of time with the package (``varattn/_C*.so``), or
else a JIT build of ``csrc/`` against the packaged headers (needs nvcc and ninja; cached in
``~/.cache/torch_extensions``). Settings for the JIT build, read when it runs:

    VARATTN_CUDA_ARCHS   architectures, e.g. "80;90a" (default: the current GPU's, sm_90a on
                         Hopper; "80;90a" without a GPU)
    VARATTN_HEAD_DIMS    head dims to instantiate, e.g. "64,128" (default: all)
    VARATTN_TORCH_VERBOSE=1   show the build
    VARATTN_FORCE_JIT=1       ignore an ahead-of-time library (for development)
"""

from __future__ import annotations

import os
import pathlib
import re

import torch

_HERE = pathlib.Path(__file__).resolve().parent
_loaded: str | None = None


def _include_dir() -> pathlib.Path:
    packaged = _HERE / "include"
    if (packaged / "varattn" / "varattn.hpp").exists():
        return packaged
    return _HERE.parent.parent / "include"  # a source checkout: python/varattn -> include


def source_version() -> str:
    """project(varattn VERSION x.y.z) of a source checkout's CMakeLists.txt."""
    cmake = _HERE.parent.parent / "CMakeLists.txt"
    found = re.search(r"project\(varattn\s+VERSION\s+([0-9.]+)", cmake.read_text()) \
        if cmake.exists() else None
    return found.group(1) if found else "0+unknown"


def arch_list(spec: str | None = None) -> list[str]:
    """Architectures to compile for: `spec` or VARATTN_CUDA_ARCHS ("80;90a"), else the current
    GPU's (sm_90a on Hopper), else 80 and 90a."""
    spec = (spec if spec is not None else os.environ.get("VARATTN_CUDA_ARCHS", "")).strip()
    if spec:
        archs = [a for a in re.split(r"[;, ]+", spec) if a]
    elif torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        archs = ["90a" if (major, minor) == (9, 0) else f"{major}{minor}"]
    else:
        archs = ["80", "90a"]
    for a in archs:
        if int(re.sub(r"[a-z]$", "", a)) < 80:
            raise RuntimeError(f"varattn needs sm_80 or newer; asked to build for sm_{a}")
    return archs


def gencode_flags(archs: list[str]) -> list[str]:
    """nvcc flags: SASS for each architecture, and PTX of the lowest plain one so that newer
    GPUs can JIT-compile it."""
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    plain = [a for a in archs if a.isdigit()]
    if plain:
        low = min(plain, key=int)
        flags.append(f"-gencode=arch=compute_{low},code=compute_{low}")
    return flags


def head_dims() -> list[str]:
    """VARATTN_HEAD_DIMS as a list ("64,128", "64;128" or "64 128"); [] means every head dim."""
    return [d for d in re.split(r"[;, ]+", os.environ.get("VARATTN_HEAD_DIMS", "").strip()) if d]


def config_include_dir(where: pathlib.Path) -> list[str]:
    """Writes ``where/varattn/config.hpp`` naming the head dims and returns ``[str(where)]``
    ([] for every head dim). head_dims.hpp reads that header as it reads CMake's; a
    ``-DVARATTN_HEAD_DIMS=64,128`` flag would not do: nvcc splits -D values at commas, and the
    escape (``\\,``) would have to survive ninja's shell."""
    dims = head_dims()
    if not dims:
        return []
    header = where / "varattn" / "config.hpp"
    text = ("// Written by varattn's Python build from VARATTN_HEAD_DIMS.\n#pragma once\n"
            f"#define VARATTN_HEAD_DIMS {', '.join(dims)}\n")
    if not header.exists() or header.read_text() != text:
        header.parent.mkdir(parents=True, exist_ok=True)
        partial = header.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text)
        os.replace(partial, header)  # whole, even with two builds at once
    return [str(where)]


def _jit_build(verbose: bool) -> str:
    from torch.utils import cpp_extension

    archs = arch_list()
    dims = head_dims()
    name = "varattn_C_sm" + "_".join(archs) + ("_d" + "_".join(dims) if dims else "")
    # The generated config.hpp beside torch's extension folders, one folder a name.
    config = config_include_dir(pathlib.Path(cpp_extension.get_default_build_root()) /
                                (name + "_config"))
    flags = ["-O3", "-std=c++17", "--threads=4", *gencode_flags(archs)]
    csrc = _HERE / "csrc"
    return cpp_extension.load(
        name=name,
        sources=[str(p) for p in sorted([*csrc.glob("*.cu"), *csrc.glob("*.cpp")])],
        extra_include_paths=[*config, str(_include_dir())],
        extra_cflags=["-O3", "-std=c++17"],
        extra_cuda_cflags=flags,
        is_python_module=False,  # the op registers itself with TORCH_LIBRARY; no pybind11
        verbose=verbose,
    )


def load(verbose: bool | None = None) -> str:
    """Loads the op library once; returns its path."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if verbose is None:
        verbose = os.environ.get("VARATTN_TORCH_VERBOSE", "0") not in ("", "0")
    built = sorted(_HERE.glob("_C*.so"))
    if built and os.environ.get("VARATTN_FORCE_JIT", "0") in ("", "0"):
        torch.ops.load_library(str(built[0]))
        _loaded = str(built[0])
    else:
        _loaded = _jit_build(verbose)
    return _loaded
