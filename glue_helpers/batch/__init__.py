"""Many runs: a parameterized notebook run once per GLUE task (`python -m glue_helpers batch`), their results, the
leaderboard zip, and comparing two runs or batches.

* `plan`: what to run, checked before any work starts, and how a task's folder says it ended;
* `lock`: who runs in a folder, and the notebook processes that die with the batch;
* `runner`: papermill, one task at a time or in parallel, failure-isolated and resumable;
* `results`: results.csv/.md/.png from the tasks' metrics.json;
* `submission`: the leaderboard files of all tasks in one zip;
* `compare`: two runs or batches, task by task, beyond validation-set noise.

Layout of a batch folder `<out>`:
  batch.json                 the notebook and shared parameters of this run (a different run is refused)
  <task>/<notebook>.ipynb    the executed notebook (errors shown in it when the task failed)
  <task>/run.log             papermill's log and the notebook's stdout/stderr
  <task>/parameters.yaml     the task's notebook parameters
  <task>/status.json         written when the task ends: succeeded or failed, parameters, time
  <task>/metrics.json        written by the notebook; <task>/model, <task>/leaderboard/ too
  <task>/*.failed-N*         an earlier attempt, set aside whole before the task runs again
  results.csv/.md/.png, glue_submission.zip
  .batch.lock                while a batch runs: its pid, host, start time and notebook processes

A task is finished when its status.json says succeeded and its metrics.json parses; a `<task>/` folder that a
`train` run (or the notebook run by hand) wrote, without the batch's files, is finished when its metrics.json
parses, so `batch --report-only` gathers a folder of `train` runs too. Every file written here goes through
`glue_helpers.rundir`'s atomic writers (temp file + rename).
"""
