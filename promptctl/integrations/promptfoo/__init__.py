"""Import a promptfoo project: `convert` a promptfoo config into the files of a
promptctl project (config.py), with a note for everything only approximated or left
out (notes.py). Nothing here runs a model or calls promptfoo."""
