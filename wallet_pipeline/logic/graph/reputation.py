"""Wallet reputation: a 0-100 score from age, activity diversity, counterparty quality and labels.

Higher is more trustworthy. Computed for every address seen in the raw tables (senders and receivers
of transactions and token transfers, DEX takers, NFT buyers and sellers, labelled addresses).

Factors, each in [0, 1]:

- **age**: `min(1, age_days / RepConfig.age_full_days)` where `age_days` is the span from the first
  to the last activity: a year of history earns full credit; a wallet used once or for a few weeks
  (sybil members, peel-chain hops, look-alike addresses) scores near 0. (A square root was tried
  first; it gave sybil members of 6 weeks 0.34 and kept their farms just under High.)
- **activity_diversity**: half the share of the five kinds of action it shows (ETH transfers, token
  transfers, DEX swaps, NFT trades, contract calls), half `min(1, ln(1 + counterparties) /
  ln(1 + RepConfig.counterparties_full))` over its distinct counterparties. Without timestamps
  (age unknown) only the share of kinds: a count of counterparties over an unknown span says
  nothing of the wallet's life.
- **counterparty_quality**: 0.5 when it never meets a labelled address; raised towards 1 by the share
  of its interactions (transactions, token transfers, trades) with reputable services (labels
  `exchange, dex, bridge, nft_marketplace, defi, airdrop`): `+0.5 * min(1, good_share / 0.5)`;
  lowered by the share with bad addresses (labels `scam, phishing, sanctioned, mixer`, and the
  `bad_addresses` given, e.g. wallets showing a malicious pattern):
  `- min(1, bad_share / 0.1)`, so 10% of its interactions with bad addresses take it to 0. Clipped
  to [0, 1]. Token transfers signed by neither side (address poisoning) are left out: the victim
  did not choose them.
- **label_points**: a scam, phishing or sanctioned label on the address itself gives
  `RepConfig.bad_label_points` (-50) and caps the reputation at `bad_label_cap` (10); a reputable
  service label gives `+good_label_points` (10).

`reputation = 100 * weighted mean of the available factors (weights age 0.35, diversity 0.30,
quality 0.35) + label_points`, clipped to [0, 100]. A factor that cannot be computed (a table or
column is missing) is NaN and left out of the weighted mean; `df.attrs["missing_factors"]` says
which and why. Ground truth is never read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from wallet_pipeline.logic.graph.config import BURN_ADDRESSES
from wallet_pipeline.logic.graph.hubs import _has_table, table_columns, trade_schema

GOOD_LABELS = ("exchange", "dex", "bridge", "nft_marketplace", "defi", "airdrop")
BAD_LABELS = ("scam", "phishing", "sanctioned", "mixer")
# Labels on the address itself that crush its reputation (a mixer is a contract, not a wallet).
CRUSH_LABELS = ("scam", "phishing", "sanctioned")
KINDS = ("eth", "token", "swap", "nft", "call")

REPUTATION_COLUMNS = [
    "address",
    "reputation",
    "age_days",
    "age",
    "activity_diversity",
    "n_kinds",
    "n_counterparties",
    "counterparty_quality",
    "good_interactions",
    "bad_interactions",
    "interactions",
    "label_points",
    "labels",
    "is_contract",
]


@dataclass(frozen=True)
class RepConfig:
    """Weights and scales of the reputation score."""

    w_age: float = 0.35
    w_diversity: float = 0.30
    w_quality: float = 0.35
    age_full_days: float = 365.0
    counterparties_full: int = 20
    good_share_full: float = 0.5  # this share of interactions with reputable services gives +0.5
    bad_share_zero: float = 0.1  # this share of interactions with bad addresses takes quality to 0
    bad_label_points: float = -50.0
    bad_label_cap: float = 10.0
    good_label_points: float = 10.0


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _activity_sql(con: duckdb.DuckDBPyConnection, schema: str) -> tuple[list[str], list[str], dict[str, str]]:
    """SELECTs of (address, counterparty, kind, t) rows, one per table found, and what is missing.

    The second list holds a SELECT of every address column read (as `v`), for `_address_hashes`.
    """
    parts: list[str] = []
    ends: list[str] = []
    missing: dict[str, str] = {}
    tx = table_columns(con, schema, "transactions")
    tt = table_columns(con, schema, "token_transfers")
    dx_schema, nf_schema = trade_schema(con, schema, "dex_trades"), trade_schema(con, schema, "nft_trades")
    dx = table_columns(con, dx_schema, "dex_trades")
    nf = table_columns(con, nf_schema, "nft_trades")
    if {"from_address", "to_address"} <= tx:
        t = "block_timestamp::timestamp" if "block_timestamp" in tx else "null::timestamp"
        # An unknown value (a sender/receiver-only transfer list) is a transfer all the same: the
        # receiver took part and must get a reputation, hence a risk score.
        eth = "(value is null or try_cast(value as double) > 0)" if "value" in tx else "true"
        call = "length(coalesce(input, '0x')) >= 10" if "input" in tx else "false"
        parts.append(
            f"select lower(from_address) a, lower(to_address) b, "
            f"case when {call} then 'call' else 'eth' end kind, {t} t, true sol from {schema}.transactions"
        )
        parts.append(
            f"select lower(to_address) a, lower(from_address) b, 'eth' kind, {t} t, true sol "
            f"from {schema}.transactions where to_address is not null and {eth}"
        )
        ends += [f"select lower({c}) v from {schema}.transactions" for c in ("from_address", "to_address")]
        if "input" not in tx:
            missing["kind:call"] = f"{schema}.transactions lacks input"
        if "block_timestamp" not in tx:
            missing["age"] = f"{schema}.transactions lacks block_timestamp"
    else:
        missing["transactions"] = f"no table {schema}.transactions with from_address, to_address"
    if {"from_address", "to_address"} <= tt:
        t = "tr.block_timestamp::timestamp" if "block_timestamp" in tt else "null::timestamp"
        # Unsolicited transfers (signed by neither side: address poisoning) say nothing of the wallet.
        if "transaction_hash" in tt and {"hash", "from_address"} <= tx:
            src = (
                f"{schema}.token_transfers tr left join (select hash, any_value(lower(from_address)) signer "
                f"from {schema}.transactions group by 1) x on x.hash = tr.transaction_hash"
            )
            sol = "coalesce(x.signer in (lower(tr.from_address), lower(tr.to_address)), true)"
        else:
            src, sol = f"{schema}.token_transfers tr", "true"
        # Both ends from one read: the join to the signers (every transaction hash) is the costly
        # part, and a union of the two directions built it twice.
        parts.append(
            "select case when fwd then lower(tr.from_address) else lower(tr.to_address) end a, "
            "case when fwd then lower(tr.to_address) else lower(tr.from_address) end b, "
            f"'token' kind, {t} t, {sol} sol from {src} cross join (values (true), (false)) d(fwd)"
        )
        ends += [f"select lower({c}) v from {schema}.token_transfers" for c in ("from_address", "to_address")]
    else:
        missing["kind:token"] = f"no table {schema}.token_transfers with from_address, to_address"
    if "taker" in dx:
        t = "block_time::timestamp" if "block_time" in dx else "null::timestamp"
        cp = "project_contract_address" if "project_contract_address" in dx else "null"
        parts.append(
            f"select lower(taker) a, lower({cp}) b, 'swap' kind, {t} t, true sol from {dx_schema}.dex_trades"
        )
        ends += [f"select lower({c}) v from {dx_schema}.dex_trades" for c in ("taker", cp) if c != "null"]
    else:
        missing["kind:swap"] = f"no table {dx_schema}.dex_trades with taker"
    if {"buyer", "seller"} <= nf:
        t = "block_time::timestamp" if "block_time" in nf else "null::timestamp"
        for a, b in (("buyer", "seller"), ("seller", "buyer")):
            parts.append(
                f"select lower({a}) a, lower({b}) b, 'nft' kind, {t} t, true sol from {nf_schema}.nft_trades"
            )
            ends.append(f"select lower({a}) v from {nf_schema}.nft_trades")
    else:
        missing["kind:nft"] = f"no table {nf_schema}.nft_trades with buyer, seller"
    return parts, ends, missing


def _address_hashes(con: duckdb.DuckDBPyConnection, ends: list[str]) -> None:
    """Create temp table `r_addr(h, address)`: every address once with its 64-bit `hash`.

    Raises ValueError naming both addresses if two share a hash, which would merge their activity
    (with 1.2M addresses the odds are about 4 in 100 million).
    """
    con.execute(
        "create or replace temp table r_addr as select hash(v) h, min(v) address, max(v) other from ("
        + " union all ".join(f"({e})" for e in ends)
        + ") where v is not null group by 1"
    )
    clash = con.execute("select address, other from r_addr where address <> other limit 1").fetchone()
    if clash:
        raise ValueError(
            f"addresses {clash[0]} and {clash[1]} have the same 64-bit hash; reputation needs them apart"
        )


def wallet_reputation(
    con: duckdb.DuckDBPyConnection,
    schema: str = "raw",
    features_table: str | None = "marts.wallet_features",
    cfg: RepConfig | None = None,
    bad_addresses: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Reputation 0-100 and its factors for every address seen in `schema`; see the module docstring.

    `bad_addresses` (e.g. the wallets of `risk.pattern_wallets`) count as bad counterparties too,
    like scam-labelled ones.

    Returns one row per address with the columns of `REPUTATION_COLUMNS`;
    `attrs["missing_factors"]` maps each factor or input that could not be used to the reason.
    """
    cfg = cfg or RepConfig()
    parts, ends, missing = _activity_sql(con, schema)
    burn = _in(BURN_ADDRESSES)
    labels = table_columns(con, schema, "address_labels")
    if {"address", "label_type"} <= labels:
        con.execute(
            f"create or replace temp table r_labels as select lower(address) address, "
            f"list(distinct label_type order by label_type) labels, "
            f"bool_or(label_type in ({_in(GOOD_LABELS)})) good, "
            f"bool_or(label_type in ({_in(BAD_LABELS)})) bad, "
            f"bool_or(label_type in ({_in(CRUSH_LABELS)})) crush "
            f"from {schema}.address_labels group by 1"
        )
        parts.append(
            f"select lower(address) a, null b, null kind, null::timestamp t, true sol "
            f"from {schema}.address_labels"
        )
        ends.append(f"select lower(address) v from {schema}.address_labels")
    else:
        missing["counterparty_quality"] = f"no table {schema}.address_labels with address, label_type"
        missing["label_points"] = missing["counterparty_quality"]
        con.execute(
            "create or replace temp table r_labels (address varchar, labels varchar[], good boolean, "
            "bad boolean, crush boolean)"
        )
    if not parts:
        out = pd.DataFrame(columns=REPUTATION_COLUMNS)
        out.attrs["missing_factors"] = missing
        return out
    # The activity is every transfer end once more (about 50M rows at 1,000,000 wallets): a view,
    # read once. Read three times, with the signers' join in both token parts, it built that join
    # six times in one statement and ran out of DuckDB's 4 GB there (docs/graph.md, "The whole
    # pipeline at 1,000,000 wallets"). 64-bit hashes of the addresses keep the grouping keys
    # small; r_addr maps them back and proves them distinct.
    con.execute(
        "create or replace temp view r_act as select hash(a) a, "
        "case when b is null then null else hash(b) end b, kind, epoch_us(t) t, sol, "
        f"(b is not null and b not in ({burn}) and b <> a) b_ok from ("
        + " union all ".join(f"({p})" for p in parts)
        + f") where a is not null and a not in ({burn})"
    )
    given = () if bad_addresses is None else bad_addresses
    bad = pd.DataFrame({"address": pd.Series(sorted({a.lower() for a in given}), dtype=object)})  # noqa: F841
    # Counterparty classes: labels, plus the given bad addresses.
    con.execute(
        "create or replace temp table r_cp as select hash(address) h, * from (select "
        "coalesce(l.address, b.address) address, coalesce(l.good, false) good, "
        "coalesce(l.bad, false) or b.address is not null bad "
        "from r_labels l full join (select address::varchar address from bad) b on b.address = l.address)"
    )
    _address_hashes(con, ends + ["select address v from r_cp"])
    kinds = ", ".join(f"bool_or(kind = '{k}') k_{k}" for k in KINDS)
    df = con.sql(
        f"""
        -- Each (address, counterparty) pair once, then each address: the distinct counterparties
        -- fall out of the first grouping, and only fixed-size states are held, which DuckDB spills.
        with pairs as (
            select a, b, min(t) t0, max(t) t1, {kinds},
                   count(*) filter (where kind is not null) n,
                   count(*) filter (where kind is not null and sol) n_sol, bool_or(b_ok) b_ok
            from r_act group by a, b
        ),
        acts as (
            select p.a h, make_timestamp(min(t0)) first_t, make_timestamp(max(t1)) last_t,
                   {", ".join(f"bool_or(k_{k})::int k_{k}" for k in KINDS)},
                   sum(n)::bigint interactions, count(*) filter (where p.b_ok) n_cp,
                   coalesce(sum(n_sol) filter (where c.good and not c.bad), 0)::bigint good_interactions,
                   coalesce(sum(n_sol) filter (where c.bad), 0)::bigint bad_interactions
            from pairs p left join r_cp c on c.h = p.b group by p.a
        )
        select ad.address, acts.* exclude (h), l.labels, coalesce(l.good, false) label_good,
               coalesce(l.crush, false) label_crush
        from acts join r_addr ad using (h) left join r_labels l on l.address = ad.address
        """
    ).df()
    con.execute("drop view if exists r_act")
    for table in ("r_cp", "r_labels", "r_addr"):
        con.execute(f"drop table if exists {table}")
    df["age_days"] = (df["last_t"] - df["first_t"]).dt.total_seconds() / 86400.0
    df["age"] = np.clip(df["age_days"] / cfg.age_full_days, 0, 1)
    if "age" in missing:
        df["age"] = np.nan
    kinds = df[[f"k_{k}" for k in KINDS]].sum(axis=1)
    n_known_kinds = len(KINDS) - sum(1 for k in KINDS if f"kind:{k}" in missing)
    df["n_kinds"] = kinds
    df["n_counterparties"] = df["n_cp"]
    cp_score = np.minimum(1.0, np.log1p(df["n_cp"]) / np.log1p(cfg.counterparties_full))
    df["activity_diversity"] = 0.5 * kinds / max(n_known_kinds, 1) + 0.5 * cp_score
    no_time = df["age"].isna()
    if no_time.any():
        # Without timestamps the counterparties are those of the export's window, not of the
        # wallet's life, and a farm makes them to order: on the airdrop draws (sender/receiver
        # pairs) sybil members touching two or three exchanges out-scored the real addresses seen
        # once and ranked below them by risk (docs/risk.md, "Farms from pairs alone").
        df.loc[no_time, "activity_diversity"] = kinds[no_time] / max(n_known_kinds, 1)
    tot = df["interactions"].clip(lower=1)
    good_share = df["good_interactions"] / tot
    bad_share = df["bad_interactions"] / tot
    df["counterparty_quality"] = np.clip(
        0.5
        + 0.5 * np.minimum(1.0, good_share / cfg.good_share_full)
        - np.minimum(1.0, bad_share / cfg.bad_share_zero),
        0,
        1,
    )
    if "counterparty_quality" in missing:
        df["counterparty_quality"] = np.nan
    df["label_points"] = np.where(
        df["label_crush"], cfg.bad_label_points, np.where(df["label_good"], cfg.good_label_points, 0.0)
    )
    df["reputation"] = _combine(df, cfg)
    df["is_contract"] = _contracts(con, schema, features_table, df["address"])
    out = df[REPUTATION_COLUMNS].sort_values("address").reset_index(drop=True)
    out.attrs["missing_factors"] = missing
    return out


def _combine(df: pd.DataFrame, cfg: RepConfig) -> pd.Series:
    """Weighted mean of the available factors, scaled to 100, plus label points, capped when crushed."""
    f = df[["age", "activity_diversity", "counterparty_quality"]].to_numpy(dtype=float)
    w = np.array([cfg.w_age, cfg.w_diversity, cfg.w_quality])
    avail = ~np.isnan(f)
    wsum = (avail * w).sum(axis=1)
    mean = np.where(wsum > 0, np.nansum(f * w, axis=1) / np.where(wsum > 0, wsum, 1), 0.5)
    rep = np.clip(100 * mean + df["label_points"].to_numpy(dtype=float), 0, 100)
    rep = np.where(df["label_crush"], np.minimum(rep, cfg.bad_label_cap), rep)
    return pd.Series(np.round(rep, 1), index=df.index)


def _contracts(
    con: duckdb.DuckDBPyConnection, schema: str, features_table: str | None, addresses: pd.Series
) -> pd.Series:
    """True for addresses known to be contracts (created, token, or `is_contract` in the features)."""
    known: set[str] = set()
    if table_columns(con, schema, "contract_creations") >= {"address"}:
        known |= {
            r[0] for r in con.execute(f"select lower(address) from {schema}.contract_creations").fetchall()
        }
    if table_columns(con, schema, "tokens") >= {"address"}:
        known |= {r[0] for r in con.execute(f"select lower(address) from {schema}.tokens").fetchall()}
    if features_table and _has_table(con, features_table):
        if "is_contract" in table_columns(con, *features_table.split(".", 1)):
            known |= {
                r[0]
                for r in con.execute(
                    f"select lower(address) from {features_table} where is_contract"
                ).fetchall()
            }
    return addresses.isin(known)
