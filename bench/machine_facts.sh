#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the GPU (name, driver, clocks, temperature, power), the ncu and nvcc versions and a
# content hash of include/, for a device call's log. The device's git metadata is the session's
# first checkout (NOTES s41), so the kernels' tree is named by content; the same command here
# says which tree ran. Run from the repository root:  bash bench/machine_facts.sh
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv,noheader 2>&1 | sed 's/^/  gpu: /'
echo "  ncu: $(ncu --version 2>&1 | tail -1)   nvcc: $(nvcc --version 2>&1 | tail -1)"
echo "  include/ tree: $(find include -type f | LC_ALL=C sort | xargs cat | sha1sum | cut -c1-12)" \
  "(here: find include -type f | LC_ALL=C sort | xargs cat | sha1sum)"
