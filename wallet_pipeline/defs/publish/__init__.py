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
