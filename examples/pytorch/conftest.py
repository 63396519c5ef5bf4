"""pytest settings for the op's tests: the `slow` marker (the soak test; deselect it with
`-m "not slow"`)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes-long soak tests on the GPU machine")
