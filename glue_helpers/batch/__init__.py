"""Many runs: a parameterized notebook run once per task (`python -m glue_helpers batch`), results, zip, comparison.

Batch folder (docs/batch.md): batch.json, .batch.lock, results.*, glue_submission.zip, and per run its executed
notebook, run.log, parameters.yaml, status.json, metrics.json and outputs; earlier attempts kept as *.failed-N*.
"""
