"""Publishing: the serving tables as a read-only snapshot that readers open instead of the pipeline file."""

# What DAGSTER_HOME/dagster.yaml needs so the daemon launches one run at a time (UI launches,
# schedules, sensors, backfills): DuckDB takes one writing process, and every run ends by
# publishing the snapshot readers use. Runs started in-process (`wallet-pipeline materialize`)
# do not pass through this queue.
RUN_QUEUE_YAML = """\
concurrency:
  runs:
    max_concurrent_runs: 1
"""

# Dagster's run monitoring, for the same dagster.yaml. A run whose process died stays STARTED
# and, with the limit above, holds every later run. The default (local process) launcher cannot
# tell a dead worker from a live one, so monitoring ends such a run only by its run time: six
# hours, far above the longest run of this project on one machine (a benchmark world's whole
# files path takes 3-4 min, the default 20,000-wallet world about 15 min on a loaded machine),
# short enough that a dead run does not hold the queue for a day. `wallet-pipeline materialize`
# ends dead runs at once by their process id (lib/dead_runs.py). A run stuck starting for five
# minutes (the code server did not come up) is failed too.
RUN_MONITORING_MAX_RUNTIME_SECONDS = 6 * 3600
RUN_MONITORING_YAML = f"""\
run_monitoring:
  enabled: true
  start_timeout_seconds: 300
  max_runtime_seconds: {RUN_MONITORING_MAX_RUNTIME_SECONDS}
  poll_interval_seconds: 60
"""
