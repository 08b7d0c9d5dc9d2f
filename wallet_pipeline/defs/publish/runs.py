"""The sensor that fails runs whose process died, so the one-run queue moves on."""

from __future__ import annotations

import dagster as dg

from wallet_pipeline.lib.dead_runs import fail_dead_runs


@dg.sensor(
    name="dead_run_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Marks failed every STARTED run whose process is gone (kill -9, out of memory, a reboot), "
        "so that the queue (one run at a time) and the sensors waiting on it move on. Dagster's "
        "run monitoring cannot tell a dead local run worker from a live one."
    ),
)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Requests no run: it only ends the runs of dead processes."""
    failed = fail_dead_runs(context.instance)
    if failed:
        context.log.warning(f"marked failed {len(failed)} runs whose process is gone: {', '.join(failed)}")
        return dg.SkipReason(f"marked failed the runs of dead processes: {', '.join(failed)}")
    return dg.SkipReason("every STARTED run has a live process")
