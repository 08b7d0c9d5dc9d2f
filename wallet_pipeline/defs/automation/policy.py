"""What keeps each asset up to date on its own, and how fresh the outputs users read must be.

Applied once, to every asset, in `definitions.py`:
- raw extracts run from jobs, schedules and sensors (they fetch from outside);
- the persona model trains when it is missing (the first run) and then only on the weekly schedule or
  when the drift sensor asks: new data alone never retrains it;
- everything else (dbt's staging, intermediate, decoded and marts layers, and the steps after
  them) is `eager`: it updates after what it reads was updated, once no upstream run is in
  progress and the blocking checks upstream passed. The UI shows on each asset why it ran.
- The tables users read carry a freshness policy: stale after `WALLET_FRESHNESS_HOURS` (48), with a
  warning at half of it.
"""

from datetime import timedelta

import dagster as dg

from wallet_pipeline import settings

PERSONA_MODEL = dg.AssetKey(["personas", "persona_model"])
USER_FACING = {
    dg.AssetKey(["marts", "wallet_features"]),
    dg.AssetKey(["personas", "wallet_personas"]),
    dg.AssetKey(["entities", "clusters"]),
    dg.AssetKey(["entities", "wallet_risk"]),
    dg.AssetKey(["entities", "cluster_evidence"]),
}
EAGER_GROUPS = {"staging", "intermediate", "decoded", "marts", "personas", "graph", "entities", "publish"}


def automation_condition(spec: dg.AssetSpec) -> dg.AutomationCondition | None:
    """The condition an asset gets; None for the raw extracts and the simulator's truth."""
    if spec.key == PERSONA_MODEL:
        return dg.AutomationCondition.on_missing()
    if spec.group_name in EAGER_GROUPS:
        return dg.AutomationCondition.eager()
    return None


def with_policy(spec: dg.AssetSpec) -> dg.AssetSpec:
    """`spec` with its automation condition and, for the tables users read, a freshness policy."""
    spec = spec.replace_attributes(automation_condition=automation_condition(spec))
    if spec.key in USER_FACING:
        hours = settings.freshness_hours()
        policy = dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=hours), warn_window=timedelta(hours=hours / 2)
        )
        spec = dg.apply_freshness_policy(spec, policy)
    return spec
