"""Import a promptfoo project: `convert` a promptfoo config into the files of a
promptctl project (config.py), with a note for everything only approximated or left
out (notes.py); `import_results` a promptfoo eval's results JSON as a run of that
project (results.py, the file read by resultsfile.py). Nothing here calls promptfoo
or a model under test (an imported run's checks may ask the project's judge)."""
