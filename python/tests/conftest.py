# SPDX-License-Identifier: Apache-2.0
"""pytest settings for the package's tests: the `va` fixture (the installed package) and the
`slow` marker (the soak test; deselect it with `-m "not slow"`)."""

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes-long soak tests on the GPU machine")


@pytest.fixture(scope="session")
def va():
    """The package, imported once per session (loads or JIT-builds the op)."""
    import varattn
    return varattn
