"""A Suite to records and a run folder."""
