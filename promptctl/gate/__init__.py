"""Records plus baselines to a verdict."""
