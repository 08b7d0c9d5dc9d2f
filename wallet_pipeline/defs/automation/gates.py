"""Blocking gates on the tables users read: a failed gate stops everything downstream of it.

Each gated table gets one multi-check: its row count may not fall by more than
`WALLET_GATE_MAX_ROW_DROP` of its count when its gate last passed on the same feed
(`gates.row_counts`), its key must be unique, its required columns may not be NULL. Where it
applies, a warning (not a stop) says when one value takes over a column, e.g. every wallet in one
persona. The published snapshot sits downstream, so readers keep the last good one.
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace

import dagster as dg

from wallet_pipeline import settings
from wallet_pipeline.lib.duckdb_resource import DuckDBFile
from wallet_pipeline.logic.automation import gates

WARN_ONLY = frozenset({"no_single_value"})


@dataclass(frozen=True)
class Gate:
    """What is gated on one table."""

    key: dg.AssetKey
    keys: tuple[str, ...]
    not_null: tuple[str, ...]
    one_value: tuple[str, str] | None = None  # (column, SQL filter of the rows it is measured on)

    @property
    def table(self) -> str:
        return ".".join(self.key.path)


GATES = (
    Gate(dg.AssetKey(["marts", "wallet_features"]), ("address",), ("address", "is_contract", "tx_count")),
    Gate(
        dg.AssetKey(["personas", "wallet_personas"]),
        ("address",),
        ("address", "persona", "confidence", "model_version"),
        # Rule personas (Contract, Inactive...) are set by rules, not the model: measured on the rest too.
        one_value=("persona", "true"),
    ),
    Gate(dg.AssetKey(["entities", "clusters"]), ("cluster_id",), ("cluster_id", "risk_score", "risk_level")),
    Gate(dg.AssetKey(["entities", "wallet_risk"]), ("address",), ("address", "risk_score", "risk_level")),
)


def _gate_check(gate: Gate) -> dg.AssetChecksDefinition:
    names = ["row_count_kept", "key_unique", "required_not_null"] + (
        ["no_single_value"] if gate.one_value else []
    )
    descriptions = {
        "row_count_kept": (
            "The row count did not fall by more than the allowed share since the last run on the same "
            "feed (export folder, Dune or the simulator)."
        ),
        "key_unique": f"({', '.join(gate.keys)}) identifies one row.",
        "required_not_null": f"{', '.join(gate.not_null)} are never NULL.",
        "no_single_value": "One value does not take over the column (e.g. every wallet in one persona).",
    }
    # One persona holding most wallets is a warning: a short window or a homogeneous export is
    # ordinary chain data, and only a broken contract may stop a run.
    specs = [
        dg.AssetCheckSpec(n, asset=gate.key, blocking=n not in WARN_ONLY, description=descriptions[n])
        for n in names
    ]

    @dg.multi_asset_check(specs=specs, name=f"{gate.key.path[-1]}_gates", can_subset=False)
    def _gates(context: dg.AssetCheckExecutionContext, duckdb: DuckDBFile) -> Iterator[dg.AssetCheckResult]:
        with duckdb.get_connection() as con:
            rows = con.execute(f"select count(*) from {gate.table}").fetchone()[0]
            feed = gates.feed_of_raw(con)
            kept = gates.row_count_gate(
                rows, gates.last_good_row_count(con, gate.table, feed), settings.gate_max_row_drop()
            )
            if not kept.passed:
                kept = replace(
                    kept,
                    reason=f"{kept.reason} on feed {feed}; if the smaller data is intended, run again "
                    "with WALLET_GATE_MAX_ROW_DROP=1",
                )
            gates.record_row_count(con, gate.table, rows, kept.passed, context.run.run_id, feed)
            results = {
                "row_count_kept": kept,
                "key_unique": gates.duplicate_key_gate(con, gate.table, gate.keys),
                "required_not_null": gates.null_gate(con, gate.table, gate.not_null, 0.0),
            }
            if gate.one_value:
                column, where = gate.one_value
                results["no_single_value"] = gates.one_value_gate(
                    con, gate.table, column, settings.gate_max_single_value_share(), where
                )
        for name, result in results.items():
            yield dg.AssetCheckResult(
                asset_key=gate.key,
                check_name=name,
                passed=result.passed,
                severity=dg.AssetCheckSeverity.WARN if name in WARN_ONLY else dg.AssetCheckSeverity.ERROR,
                description=result.reason,
                metadata={k: v for k, v in result.figures.items()},
            )

    return _gates


gate_checks = [_gate_check(g) for g in GATES]
