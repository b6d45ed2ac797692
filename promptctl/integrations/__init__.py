"""promptctl inside other tools: the pytest plugin and `run --watch`."""
