# SPDX-License-Identifier: Apache-2.0
"""Integrations of varattn with other libraries (imported on demand)."""
