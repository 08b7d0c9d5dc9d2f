"""Internal ETH transfers (traces) reach the features: a farm funded by one Disperse call.

The members of a disperse-funded farm get their ETH only inside the funder's call, so without
traces they look funded by nobody. Built with the real dbt (`dbt build`, blocking tests on) on a
world whose every farm is funded that way.
"""

from __future__ import annotations

import duckdb
import pytest

from wallet_pipeline import settings
from wallet_pipeline.lib.live_dbt import DbtProjectRun
from wallet_pipeline.logic.graph.internal import internal_eth_sql
from wallet_pipeline.logic.ingestion.simulator import SimulatorConfig, load_simulation

pytestmark = [pytest.mark.dbt, pytest.mark.slow]

CONFIG = SimulatorConfig(seed=8, n_wallets=1_500, days=30, sybil_topologies=(("disperse", 1.0),))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    folder = tmp_path_factory.mktemp("disperse")
    db = folder / "disperse.duckdb"
    with duckdb.connect(str(db)) as con:
        load_simulation(con, CONFIG)
    env = {**settings.dbt_env(), "WALLET_DUCKDB_TEMP_DIR": str(folder / "spill")}
    DbtProjectRun(settings.DBT_PROJECT_DIR, settings.dbt_executable(), env).invoke(["build"], db, folder)
    return duckdb.connect(str(db), read_only=True)


def _farm(con: duckdb.DuckDBPyConnection) -> tuple[str, list[str]]:
    funder, members = con.execute(
        "select any_value(address) filter (where role = 'funder'), "
        "list(address) filter (where role = 'member') from ground_truth.wallets "
        "where entity_type = 'sybil_farm' group by entity_id order by 1 limit 1"
    ).fetchone()
    return funder, members


def test_disperse_members_are_one_funding_burst_of_their_funder(built: duckdb.DuckDBPyConnection) -> None:
    funder, members = _farm(built)
    rows = built.execute(
        "select f.funding_burst_size, f.funding_cohort_size, f.eth_received, f.unique_counterparties "
        "from marts.wallet_features f where f.address in (select unnest(?))",
        [members],
    ).fetchall()
    assert len(rows) == len(members)
    # One call paid every member the same amount: one burst, one cohort, as large as the farm.
    assert {r[0] for r in rows} == {len(members)} and {r[1] for r in rows} == {len(members)}
    paid = built.execute(
        "select list(distinct value_eth), list(distinct from_address) "
        "from intermediate.int_internal_eth_transfers where to_address in (select unnest(?))",
        [members],
    ).fetchone()
    assert paid[1] == [funder] and len(paid[0]) == 1
    # What the call paid is in each member's ETH received (the members received nothing else first).
    assert all(r[2] >= paid[0][0] for r in rows)
    assert all(r[3] >= 1 for r in rows)


def test_the_features_and_the_wallet_graph_read_the_same_internal_transfers(
    built: duckdb.DuckDBPyConnection,
) -> None:
    dbt_rows = built.execute(
        "select tx_hash, from_address, to_address, value_eth::double "
        "from intermediate.int_internal_eth_transfers order by all"
    ).fetchall()
    graph_rows = built.execute(
        f"select hash, src, dst, eth from ({internal_eth_sql(built, 'raw')}) order by all"
    ).fetchall()
    assert len(dbt_rows) > 20 and dbt_rows == graph_rows
