"""Phishing networks shaped like the public phishing datasets, run through the real pipeline and scored.

What the shape follows. The public Ethereum phishing datasets (Etherscan's "Phish / Hack" reports
as collected by dawsbot/eth-labels, and the XBlock "Ethereum Phishing Transaction Network", which
keeps the two-hop transaction neighbourhood of each reported phishing account) and the studies
built on them (Chen et al. 2020, Wu et al. 2020, "Who are the phishers?") describe the same
neighbourhood:

- a phishing account is paid by many victims, with a heavy-tailed count (a few accounts drain
  hundreds, many only a handful); most victims pay it once;
- it sends almost nothing back to its victims and forwards most of its inflow within hours to a
  few addresses: its operators' consolidation wallets, exchange deposit addresses, or another
  phishing account; accounts of one operator share victims (a victim list reused) and forward to
  one another;
- victims are ordinary wallets with their own lives: exchange withdrawals and deposits, payments
  to friends, contract calls; their neighbours are ordinary too;
- exchange hot wallets and popular contracts are hubs;
- ordinary addresses with high fan-in exist (merchants, donation addresses, popular people, small
  services, shared deposit addresses of payment processors), so degree alone is not the answer.

Every modelling choice is a parameter drawn per world from a range (`draw_params`), never one
value: the benchmark asks how the risk ranks phishers over many plausible worlds, not on one.

Each world is written as an ethereum-etl export folder: `transactions.csv` (hash, block_number,
block_timestamp, value, from_address, to_address, receipt_status, input), `contracts.csv` for the
popular contracts, and `labels/` with HALF of the phishers as `phish-hack` (dawsbot's
`phish-hack.json` shape, `{address: name}`) and the exchanges' hot wallets a public list names
(`exchange.json`). The real pipeline then runs on it through the files path: the real Dagster
assets, everything but the persona stage (which risk does not read), in a child process, with
its own data folder. Then the held-out (unlabelled) phishers are scored against ordinary
addresses (every address of the export that is not a phisher; one missing from
`entities.wallet_risk` counts as score 0):

    .venv/bin/python benchmarks/phishing_network.py --draws 10 --keep /tmp/phish/net
    .venv/bin/python benchmarks/phishing_network.py --rescore /tmp/phish/net   # risk only, again

Figures: ROC AUC and average precision of `wallet_risk.risk_score`, next to three baselines
computed here from the export (degree, in-degree, and propagation from the labelled half through
shared low-degree counterparties), and the shares of victims and of ordinary addresses at High+.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.dagster_runs import files_env, materialize  # noqa: E402

T0 = 1_700_000_000  # 2023-11-14: any fixed start; only differences of times matter
BLOCK_SECONDS = 12
FIRST_BLOCK = 18_570_000
WEI = 10**18
# Everything risk reads comes from ingestion, dbt and the graph; the persona model is not needed.
SELECT = "not group:personas and not key:publish/snapshot and not key:entities/alerts"
HUB_FANOUT = 50  # the baseline's low-degree bound, as `risk_spread.shared_payer_max_payees`


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


@dataclass
class Params:
    """One world's modelling choices, each drawn from the range in `draw_params`."""

    days: float
    n_users: int
    n_exchanges: int
    n_contracts: int
    n_phishers: int
    gang_mean: float  # phishers per operator (geometric)
    victims_mu: float  # victims per phisher: lognormal(mu, sigma), at least 1
    victims_sigma: float
    phisher_days: float  # how long a phishing account collects
    repeat_victim: float  # a victim pays its phisher again
    shared_victim: float  # a victim also pays another phisher (a reused victim list)
    same_gang_share: float  # ... of the same operator
    forward_share_lo: float  # share of inflow a phisher forwards, per phisher in [lo, hi]
    forward_share_hi: float
    forward_hours: float  # median delay before forwarding (lognormal)
    batch_forward: float  # a phisher forwards its balance in batches rather than each payment
    to_consolidation: float  # forward destinations: operator's wallet / exchange deposit / phisher
    to_deposit: float
    to_phisher: float
    giveaway: float  # share of phishers ("fake giveaways") sending a little back to a few victims
    user_actions: float  # mean actions per ordinary wallet over the period
    p_withdraw: float
    p_deposit: float
    p_friend: float
    p_call: float
    friends_mean: float
    deposit_hours: float  # exchange deposit addresses sweep to the hot wallet after this (median)
    contract_payback: float  # share of contract calls that get ETH back (withdrawals, bridges)
    n_merchants: int
    n_donations: int
    n_popular: int
    n_services: int
    n_shared_deposits: int
    fan_in_mu: float  # payers of a high-fan-in address: lognormal, as the phishers'
    customer_repeat: float
    merchant_fast_sweep: float  # merchants auto-forwarding within hours, as a phisher does
    merchant_refund: float
    popular_payback: float
    service_payout: float
    label_exchange: float  # share of hot wallets a public list names
    failed: float  # failed transactions


def draw_params(rng: np.random.Generator) -> Params:
    """Draw one world's choices; the ranges are the plausible spread, not a fit to any data."""
    u = lambda lo, hi: _uniform(rng, lo, hi)  # noqa: E731
    i = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731
    lo = u(0.55, 0.85)
    deposit = u(0.15, 0.45)
    phisher = u(0.05, 0.25)
    return Params(
        days=u(60, 120),
        n_users=i(1500, 3000),
        n_exchanges=i(3, 6),
        n_contracts=i(6, 15),
        n_phishers=i(30, 70),
        gang_mean=u(1.5, 4.0),
        victims_mu=u(1.5, 2.8),
        victims_sigma=u(0.9, 1.4),
        phisher_days=u(3, 40),
        repeat_victim=u(0.05, 0.2),
        shared_victim=u(0.05, 0.3),
        same_gang_share=u(0.5, 0.9),
        forward_share_lo=lo,
        forward_share_hi=min(0.99, lo + u(0.1, 0.3)),
        forward_hours=u(0.5, 8.0),
        batch_forward=u(0.2, 0.7),
        to_consolidation=1 - deposit - phisher,
        to_deposit=deposit,
        to_phisher=phisher,
        giveaway=u(0.0, 0.2),
        user_actions=u(5, 20),
        p_withdraw=u(0.15, 0.3),
        p_deposit=u(0.1, 0.2),
        p_friend=u(0.15, 0.3),
        p_call=u(0.2, 0.4),
        friends_mean=u(1.5, 5.0),
        deposit_hours=u(0.5, 8.0),
        contract_payback=u(0.0, 0.3),
        n_merchants=i(3, 10),
        n_donations=i(2, 8),
        n_popular=i(2, 8),
        n_services=i(2, 6),
        n_shared_deposits=i(1, 4),
        fan_in_mu=u(1.8, 3.2),
        customer_repeat=u(0.1, 0.4),
        merchant_fast_sweep=u(0.1, 0.5),
        merchant_refund=u(0.0, 0.05),
        popular_payback=u(0.1, 0.5),
        service_payout=u(0.3, 0.8),
        label_exchange=u(0.5, 1.0),
        failed=u(0.0, 0.02),
    )


@dataclass
class World:
    """The generated network: transactions, each address's role, and the phishers' split."""

    seed: int
    params: Params
    transactions: pd.DataFrame
    roles: dict[str, str]  # address -> phisher, victim, user, consolidation, operator_deposit, ...
    phishers: list[str]
    labelled: list[str]
    held_out: list[str]
    victims: set[str]
    hot_wallets: list[str]
    contracts: list[str]
    labelled_exchanges: list[str] = field(default_factory=list)


class _Builder:
    """Collects transactions; addresses and hashes come from the world's own generator."""

    def __init__(self, rng: np.random.Generator, params: Params) -> None:
        self.rng = rng
        self.p = params
        self.rows: list[tuple] = []
        self.roles: dict[str, str] = {}
        self.end = params.days * 86400

    def address(self, role: str) -> str:
        a = "0x" + self.rng.bytes(20).hex()
        self.roles[a] = role
        return a

    def time(self) -> float:
        return float(self.rng.uniform(0, self.end))

    def eth(self, median: float, sigma: float = 1.0) -> int:
        return int(median * math.exp(sigma * self.rng.standard_normal()) * WEI)

    def tx(self, t: float, src: str, dst: str, value: int, call: bool = False) -> None:
        t = min(max(t, 0.0), self.end)
        ok = 0 if self.rng.random() < self.p.failed else 1
        selector = "0x" + self.rng.bytes(4).hex() + self.rng.bytes(32).hex() if call else "0x"
        self.rows.append((t, src, dst, max(value, 0), ok, selector))

    def later(self, t: float, median_hours: float) -> float:
        return t + 3600 * median_hours * math.exp(0.8 * self.rng.standard_normal())


def _heavy(rng: np.random.Generator, mu: float, sigma: float, cap: int) -> int:
    return int(min(cap, max(1, round(math.exp(mu + sigma * rng.standard_normal())))))


def generate(seed: int) -> World:
    """One phishing world drawn from `seed`; see the module docstring for the shape."""
    rng = np.random.default_rng(seed)
    p = draw_params(rng)
    b = _Builder(rng, p)
    hot = [b.address("hot_wallet") for _ in range(p.n_exchanges)]
    contracts = [b.address("contract") for _ in range(p.n_contracts)]
    contract_pop = rng.dirichlet(np.full(p.n_contracts, 0.7))
    users = [b.address("user") for _ in range(p.n_users)]
    home = rng.integers(0, p.n_exchanges, p.n_users)
    deposit_of: dict[str, str] = {}
    pending_sweeps: list[tuple[float, str, str, int]] = []

    def deposit(owner: str, exchange: int) -> str:
        if owner not in deposit_of:
            # An operator's exchange account is part of the operation; everyone else's is ordinary.
            deposit_of[owner] = b.address(
                "operator_deposit" if b.roles[owner] == "consolidation" else "deposit"
            )
        return deposit_of[owner]

    def pay_into_exchange(t: float, src: str, exchange: int, owner: str, value: int) -> None:
        d = deposit(owner, exchange)
        b.tx(t, src, d, value)
        pending_sweeps.append((b.later(t, p.deposit_hours), d, hot[exchange], int(value * 0.999)))

    friends = {
        u: list(rng.choice(users, size=max(1, rng.poisson(p.friends_mean)), replace=False)) for u in users
    }
    # Ordinary high-fan-in addresses: their payers are drawn like a phisher's victims.
    fan_in: list[tuple[str, str]] = []
    for role, n in (
        ("merchant", p.n_merchants),
        ("donation", p.n_donations),
        ("popular", p.n_popular),
        ("service", p.n_services),
        ("shared_deposit", p.n_shared_deposits),
    ):
        fan_in += [(b.address(role), role) for _ in range(n)]
    cap = max(5, int(0.1 * p.n_users))

    # Ordinary lives.
    fund_time = {u: b.time() * 0.3 for u in users}
    for k, u in enumerate(users):
        t_first = fund_time[u]
        b.tx(t_first, hot[home[k]], u, b.eth(0.5, 1.2))
        n = max(1, rng.poisson(p.user_actions))
        mix = np.array([p.p_withdraw, p.p_deposit, p.p_friend, p.p_call])
        kinds = rng.choice(4, size=n, p=mix / mix.sum())
        for kind in kinds:
            t = float(rng.uniform(t_first, b.end))
            if kind == 0:
                b.tx(t, hot[rng.integers(p.n_exchanges)], u, b.eth(0.3, 1.2))
            elif kind == 1:
                pay_into_exchange(t, u, int(home[k]), u, b.eth(0.3, 1.2))
            elif kind == 2:
                b.tx(t, u, friends[u][rng.integers(len(friends[u]))], b.eth(0.05, 1.3))
            else:
                c = contracts[rng.choice(p.n_contracts, p=contract_pop)]
                b.tx(t, u, c, b.eth(0.05, 1.5) if rng.random() < 0.6 else 0, call=True)
                if rng.random() < p.contract_payback:
                    b.tx(b.later(t, 2.0), c, u, b.eth(0.05, 1.5))

    # High-fan-in ordinary addresses.
    for a, role in fan_in:
        payers = rng.choice(users, size=_heavy(rng, p.fan_in_mu, p.victims_sigma, cap), replace=False)
        received: list[tuple[float, int]] = []
        ex = int(rng.integers(p.n_exchanges))
        start = b.time() * 0.5
        for payer in payers:
            for _ in range(1 + rng.binomial(3, p.customer_repeat)):
                t = float(rng.uniform(start, b.end))
                v = b.eth(0.1, 1.0)
                b.tx(t, str(payer), a, v)
                received.append((t, v))
        received.sort()
        if role == "merchant":
            if rng.random() < p.merchant_fast_sweep:
                for t, v in received:
                    pay_into_exchange(b.later(t, p.forward_hours), a, ex, a, int(v * 0.98))
            else:
                period = 86400 * _uniform(rng, 1, 7)
                total, last = 0, start
                for t, v in received:
                    total += v
                    if t - last > period:
                        pay_into_exchange(t + 3600, a, ex, a, int(total * 0.95))
                        total, last = 0, t
            for payer in payers:
                if rng.random() < p.merchant_refund:
                    b.tx(b.time(), a, str(payer), b.eth(0.05))
        elif role == "donation":
            for _ in range(int(rng.integers(1, 4))):
                b.tx(float(rng.uniform(start, b.end)), a, users[rng.integers(p.n_users)], b.eth(1.0))
        elif role == "popular":
            for payer in payers:
                if rng.random() < p.popular_payback:
                    b.tx(float(rng.uniform(start, b.end)), a, str(payer), b.eth(0.05, 1.3))
            for _ in range(int(rng.integers(3, 15))):
                c = contracts[rng.choice(p.n_contracts, p=contract_pop)]
                b.tx(float(rng.uniform(start, b.end)), a, c, b.eth(0.1), call=True)
        elif role == "service":
            for payer in payers:
                if rng.random() < p.service_payout:
                    b.tx(float(rng.uniform(start, b.end)), a, str(payer), b.eth(0.1, 1.3))
        else:  # a payment processor's deposit address: everything to the hot wallet, fast
            for t, v in received:
                b.tx(b.later(t, p.deposit_hours), a, hot[ex], int(v * 0.999))

    # Phishers, grouped by operator.
    phishers: list[str] = []
    gang: dict[str, int] = {}
    consolidation: dict[int, str] = {}
    g = 0
    while len(phishers) < p.n_phishers:
        size = min(p.n_phishers - len(phishers), int(rng.geometric(1 / p.gang_mean)))
        consolidation[g] = b.address("consolidation")
        for _ in range(size):
            a = b.address("phisher")
            phishers.append(a)
            gang[a] = g
        g += 1
    gang_ex = {k: int(rng.integers(p.n_exchanges)) for k in consolidation}
    victims: set[str] = set()
    inflow: dict[str, list[tuple[float, int, str]]] = {a: [] for a in phishers}
    window: dict[str, tuple[float, float]] = {}
    for a in phishers:
        start = float(rng.uniform(0.1, 0.9)) * b.end
        window[a] = (
            start,
            min(b.end, start + 86400 * p.phisher_days * math.exp(0.5 * rng.standard_normal())),
        )
        # Gas money first: from an exchange withdrawal or from the operator's wallet.
        src = consolidation[gang[a]] if rng.random() < 0.5 else hot[rng.integers(p.n_exchanges)]
        b.tx(start - 3600 * _uniform(rng, 1, 48), src, a, b.eth(0.02))
    for a in phishers:
        s, e = window[a]
        for victim in rng.choice(users, size=_heavy(rng, p.victims_mu, p.victims_sigma, cap), replace=False):
            victim = str(victim)
            targets = [a]
            if rng.random() < p.shared_victim:
                mates = [x for x in phishers if gang[x] == gang[a] and x != a]
                pool = mates if mates and rng.random() < p.same_gang_share else phishers
                targets.append(str(pool[rng.integers(len(pool))]))
            for target in targets:
                ts, te = window[target]
                for _ in range(1 + rng.binomial(2, p.repeat_victim)):
                    t = float(rng.uniform(ts, te))
                    v = b.eth(0.3, 1.4)
                    b.tx(t, victim, target, v)
                    inflow[target].append((t, v, victim))
                victims.add(victim)
    for a in phishers:
        got = sorted(inflow[a])
        if not got:
            continue
        share = _uniform(rng, p.forward_share_lo, p.forward_share_hi)
        dests = ["consolidation", "deposit", "phisher"]
        probs = np.array([p.to_consolidation, p.to_deposit, p.to_phisher])
        chosen = rng.choice(dests, size=int(rng.integers(1, 4)), p=probs)
        targets: list[tuple[str, str]] = []
        for d in chosen:
            if d == "consolidation":
                targets.append(("plain", consolidation[gang[a]]))
            elif d == "deposit":
                targets.append(("deposit", consolidation[gang[a]]))
            else:
                others = [x for x in phishers if x != a]
                targets.append(("plain", str(others[rng.integers(len(others))])))

        def send(t: float, v: int, src: str = a, to: list = targets) -> None:
            kind, dst = to[rng.integers(len(to))]
            if kind == "deposit":
                # The operator's exchange account: a deposit address owned by its consolidation wallet.
                pay_into_exchange(t, src, gang_ex[gang[src]], dst, v)
            else:
                b.tx(t, src, dst, v)

        if rng.random() < p.batch_forward:
            total, first = 0, got[0][0]
            for t, v, _ in got:
                total += v
                if t - first > 3600 * p.forward_hours * 2:
                    send(b.later(t, p.forward_hours), int(total * share))
                    total, first = 0, t
            if total:
                send(b.later(got[-1][0], p.forward_hours), int(total * share))
        else:
            for t, v, _ in got:
                send(b.later(t, p.forward_hours), int(v * share))
        if rng.random() < p.giveaway:
            for t, _, victim in got[: max(1, len(got) // 20)]:
                b.tx(b.later(t, 1.0), a, victim, b.eth(0.01))
    # Consolidation wallets cash out at their operator's exchange now and then.
    for k, c in consolidation.items():
        for _ in range(int(rng.integers(1, 5))):
            pay_into_exchange(float(rng.uniform(0.3, 1.0)) * b.end, c, gang_ex[k], c, b.eth(2.0))
    for t, d, h, v in pending_sweeps:
        b.tx(t, d, h, v)

    for v in victims:
        if b.roles.get(v) == "user":
            b.roles[v] = "victim"
    tx = pd.DataFrame(b.rows, columns=["t", "from_address", "to_address", "value", "receipt_status", "input"])
    tx = tx.sort_values("t", kind="stable").reset_index(drop=True)
    tx["block_timestamp"] = (T0 + tx["t"]).astype("int64")
    tx["block_number"] = FIRST_BLOCK + (tx["t"] // BLOCK_SECONDS).astype("int64")
    tx["hash"] = ["0x" + rng.bytes(32).hex() for _ in range(len(tx))]
    tx["value"] = tx["value"].astype(object).map(str)
    order = rng.permutation(len(phishers))
    labelled = [phishers[i] for i in order[: len(phishers) // 2]]
    held_out = [phishers[i] for i in order[len(phishers) // 2 :]]
    named = [h for h in hot if rng.random() < p.label_exchange]
    return World(
        seed=seed,
        params=p,
        transactions=tx[
            [
                "hash",
                "block_number",
                "block_timestamp",
                "value",
                "from_address",
                "to_address",
                "receipt_status",
                "input",
            ]
        ],  # fmt: skip
        roles=b.roles,
        phishers=phishers,
        labelled=labelled,
        held_out=held_out,
        victims=victims,
        hot_wallets=hot,
        contracts=contracts,
        labelled_exchanges=named,
    )


def write_export(world: World, folder: Path) -> None:
    """The world as an ethereum-etl export folder; `truth.json` beside it (the pipeline never reads it)."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "labels").mkdir(parents=True)
    world.transactions.to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame(
        {"address": world.contracts, "bytecode": "0x6080", "is_erc20": False, "is_erc721": False,
         "block_number": FIRST_BLOCK}
    ).to_csv(folder / "contracts.csv", index=False)  # fmt: skip
    phish = {a: f"Fake_Phishing{i}" for i, a in enumerate(world.labelled)}
    (folder / "labels" / "phish-hack.json").write_text(json.dumps(phish, indent=1))
    exchanges = {a: f"Exchange {i}: Hot Wallet" for i, a in enumerate(world.labelled_exchanges)}
    (folder / "labels" / "exchange.json").write_text(json.dumps(exchanges, indent=1))
    truth = {
        "seed": world.seed,
        "params": asdict(world.params),
        "roles": world.roles,
        "labelled": world.labelled,
        "held_out": world.held_out,
    }
    (folder.parent / "truth.json").write_text(json.dumps(truth))


def run_pipeline(export: Path, data_dir: Path, log: Path, select: str = SELECT) -> tuple[int, float, float]:
    """The real Dagster assets on the export, in a child process: (exit code, wall s, CPU s of the child)."""
    cost = materialize(select, files_env(export, data_dir, WALLET_GATE_MAX_ROW_DROP="1.0"), log)
    return cost.code, cost.wall_s, cost.cpu_s


def _duckdb_file(data_dir: Path) -> Path:
    found = sorted(data_dir.glob("*.duckdb"))
    if not found:
        raise FileNotFoundError(f"no .duckdb file in {data_dir}")
    return found[0]


def baselines(tx: pd.DataFrame, labelled: list[str]) -> pd.DataFrame:
    """Per address: degree, in-degree, and propagation from `labelled` via shared low-degree counterparties.

    Propagation: each counterparty `c` of at most `HUB_FANOUT` counterparties that touches both the
    address and a labelled phisher adds `1 / (degree(c) - 1)` per labelled phisher (a counterparty
    of only the two is as specific as a direct link), as in the public studies' label propagation.
    """
    t = tx[tx["receipt_status"] == 1][["from_address", "to_address"]].dropna()
    t = t[t["from_address"] != t["to_address"]]
    pairs = pd.concat(
        [t.rename(columns={"from_address": "a", "to_address": "b"}),
         t.rename(columns={"to_address": "a", "from_address": "b"})]
    ).drop_duplicates()  # fmt: skip
    degree = pairs.groupby("a")["b"].nunique()
    in_degree = t.drop_duplicates().groupby("to_address")["from_address"].nunique()
    low = degree[(degree >= 2) & (degree <= HUB_FANOUT)]
    lab = set(labelled)
    via = pairs[pairs["a"].isin(low.index) & pairs["b"].isin(lab)].rename(columns={"a": "c", "b": "seed"})
    reach = pairs[pairs["a"].isin(via["c"])].rename(columns={"a": "c", "b": "address"}).merge(via, on="c")
    reach = reach[reach["address"] != reach["seed"]]
    reach["w"] = 1.0 / (reach["c"].map(low) - 1)
    prop = reach.groupby("address")["w"].sum()
    out = pd.DataFrame({"degree": degree})
    out["in_degree"] = in_degree
    out["propagation"] = prop
    return out.fillna(0.0)


def _auc_ap(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    if not len(pos) or not len(neg):
        return math.nan, math.nan
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    s = np.r_[pos, neg]
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def score(data_dir: Path, truth: dict, tx: pd.DataFrame) -> dict:
    """The figures of one world: held-out phishers against every address that is not a phisher."""
    with duckdb.connect(str(_duckdb_file(data_dir)), read_only=True) as con:
        risk = con.sql("select address, risk_score, risk_level from entities.wallet_risk").df()
    roles = truth["roles"]
    addresses = sorted(set(tx["from_address"].dropna()) | set(tx["to_address"].dropna()))
    frame = pd.DataFrame({"address": addresses})
    frame["role"] = frame["address"].map(roles).fillna("unknown")
    r = risk.set_index("address")
    frame["risk"] = frame["address"].map(r["risk_score"]).astype(float)
    frame["missing"] = frame["risk"].isna()
    frame["risk"] = frame["risk"].fillna(0.0)
    frame["high"] = frame["address"].map(r["risk_level"]).isin(["High", "Critical"])
    frame["medium_up"] = frame["address"].map(r["risk_level"]).isin(["Medium", "High", "Critical"])
    base = baselines(tx, truth["labelled"]).reindex(frame["address"]).fillna(0.0)
    for col in base.columns:
        frame[col] = base[col].to_numpy()
    held = frame["address"].isin(set(truth["held_out"]))
    ordinary = frame["role"] != "phisher"
    figures: dict[str, float] = {}
    for col in ("risk", "degree", "in_degree", "propagation"):
        auc, ap = _auc_ap(frame.loc[held, col].to_numpy(), frame.loc[ordinary, col].to_numpy())
        figures[f"{col}_auc"], figures[f"{col}_ap"] = auc, ap
    # The operators' consolidation wallets and exchange deposits are perpetrators' infrastructure,
    # not ordinary people, though the public datasets do not report them: shown apart too.
    people = ordinary & ~frame["role"].isin(["consolidation", "operator_deposit"])
    for col in ("risk", "propagation"):
        auc, ap = _auc_ap(frame.loc[held, col].to_numpy(), frame.loc[people, col].to_numpy())
        figures[f"{col}_auc_people"], figures[f"{col}_ap_people"] = auc, ap
    figures["held_out"] = int(held.sum())
    figures["ordinary"] = int(ordinary.sum())
    figures["missing_held_out"] = int((held & frame["missing"]).sum())
    figures["missing_ordinary"] = int((ordinary & frame["missing"]).sum())
    figures["held_out_high"] = float(frame.loc[held, "high"].mean())
    figures["held_out_medium_up"] = float(frame.loc[held, "medium_up"].mean())
    figures["labelled_high"] = float(frame.loc[frame["address"].isin(set(truth["labelled"])), "high"].mean())
    figures["victims_high"] = float(frame.loc[frame["role"] == "victim", "high"].mean())
    figures["ordinary_high"] = float(frame.loc[ordinary, "high"].mean())
    figures["ordinary_high_n"] = int(frame.loc[ordinary, "high"].sum())
    figures["consolidation_high"] = float(frame.loc[frame["role"] == "consolidation", "high"].mean())
    high_roles = frame[ordinary & frame["high"]]["role"].value_counts().to_dict()
    figures["ordinary_high_roles"] = {str(k): int(v) for k, v in high_roles.items()}
    return figures


NUMERIC = (
    ("risk_auc", "wallet risk ROC AUC"),
    ("risk_ap", "wallet risk average precision"),
    ("degree_auc", "degree ROC AUC"),
    ("degree_ap", "degree average precision"),
    ("in_degree_auc", "in-degree ROC AUC"),
    ("in_degree_ap", "in-degree average precision"),
    ("propagation_auc", "shared-counterparty propagation AUC"),
    ("propagation_ap", "shared-counterparty propagation AP"),
    ("risk_auc_people", "wallet risk AUC, operators' wallets apart"),
    ("risk_ap_people", "wallet risk AP, operators' wallets apart"),
    ("propagation_auc_people", "propagation AUC, operators' wallets apart"),
    ("propagation_ap_people", "propagation AP, operators' wallets apart"),
    ("held_out_high", "held-out phishers at High+"),
    ("held_out_medium_up", "held-out phishers at Medium+"),
    ("labelled_high", "labelled phishers at High+"),
    ("victims_high", "victims at High+"),
    ("ordinary_high", "ordinary addresses at High+"),
    ("consolidation_high", "consolidation wallets at High+"),
)
# Higher is better for these; the worst decile of the others is their 90th percentile.
LOWER_IS_BETTER = {"victims_high", "ordinary_high"}


def summarize(results: list[dict]) -> str:
    """Median and worst decile (10th percentile, or 90th where lower is better) over the worlds."""
    lines = [f"{'figure':40s} {'median':>8s} {'worst 10%':>10s}"]
    for key, name in NUMERIC:
        vals = np.array([r[key] for r in results if not math.isnan(r.get(key, math.nan))])
        if not len(vals):
            continue
        worst = np.quantile(vals, 0.9 if key in LOWER_IS_BETTER else 0.1)
        lines.append(f"{name:40s} {np.median(vals):8.3f} {worst:10.3f}")
    missing = sum(r["missing_held_out"] for r in results), sum(r["missing_ordinary"] for r in results)
    total = sum(r["held_out"] for r in results), sum(r["ordinary"] for r in results)
    lines.append(
        f"missing from wallet_risk (score 0): held-out {missing[0]} of {total[0]}, "
        f"ordinary {missing[1]} of {total[1]}"
    )
    return "\n".join(lines)


def _line(seed: int, f: dict) -> str:
    keys = ("risk_auc", "risk_ap", "degree_auc", "in_degree_auc", "propagation_auc", "propagation_ap",
            "held_out_high", "held_out_medium_up", "victims_high", "ordinary_high")  # fmt: skip
    return (
        f"world {seed}: "
        + ", ".join(f"{k} {f[k]:.3f}" for k in keys)
        + f", high roles {f['ordinary_high_roles']}"
    )


def shaped_receivers(db: Path, truth: dict | None) -> pd.DataFrame:
    """The `phishing_inflow` figures of every receiver of >= 5 payers in one finished world, with its truth.

    `truth` is a draw's `truth.json` (a phisher is malicious); None reads a kept quality world's
    `ground_truth.wallets`. Adds `shape`: every bound passes but the signed-transaction one.
    """
    from wallet_pipeline.logic.graph.risk import RiskConfig, phishing_inflow

    cfg = RiskConfig()
    with duckdb.connect(str(db), read_only=True) as con:
        hubs = {r[0] for r in con.execute("select lower(address) from graph.hubs").fetchall()}
        f = phishing_inflow(con, cfg, hubs=hubs)
        if truth is None:
            bad = con.sql("select address from ground_truth.wallets where is_malicious").df()["address"]
            f["malicious"] = f["address"].isin(set(bad))
        else:
            f["malicious"] = f["address"].map(truth["roles"]).eq("phisher")
    f["shape"] = (
        (f["low_degree_share"] >= cfg.phish_min_share)
        & (f["once_share"] >= cfg.phish_min_share)
        & (f["payback_share"] <= cfg.phish_max_payback_share)
        & (f["forward_share"] >= cfg.phish_min_share)
        & (f["fast_share"] >= cfg.phish_min_share)
        & (f["top_share"] >= cfg.phish_min_top_share)
    )
    f["tier"] = np.where(f["payers"] >= f["payers_bound"], "phishing_inflow", "phishing_inflow_small")
    return f


def pattern_precision(draws: list[Path], kept: Path | None) -> str:
    """How often each phishing tier flags a perpetrator, in the draws and the kept quality worlds.

    Per population and tier: wallets flagged and how many are malicious, and the same for the
    shape without the signed-transaction bound (`top_tx_share`), with that share's spread.
    """
    frames = []
    for base in draws:
        truth = json.loads((base / "truth.json").read_text())
        frames.append(shaped_receivers(_duckdb_file(base / "data"), truth).assign(population="draws"))
    for base in sorted(kept.glob("world_*")) if kept else []:
        frames.append(shaped_receivers(_duckdb_file(base / "data"), None).assign(population="kept worlds"))
    f = pd.concat(frames, ignore_index=True)
    lines = []
    for (population, tier), g in f.groupby(["population", "tier"]):
        flagged, shaped = g[g["phishing"] | g["phishing_small"]], g[g["shape"]]
        bad, good = shaped[shaped["malicious"]], shaped[~shaped["malicious"]]
        lines.append(
            f"{population:12s} {tier:22s} flagged {int(flagged['malicious'].sum())} of {len(flagged)} "
            f"malicious; without the signed bound {len(bad)} of {len(shaped)} (top_tx_share >= 0.5: "
            f"benign {int((good['top_tx_share'] >= 0.5).sum())}; malicious min "
            f"{bad['top_tx_share'].min():.2f}, benign {good['top_tx_share'].min():.2f}-"
            f"{good['top_tx_share'].max():.2f})"
        )
    for tier, g in f.groupby("tier"):
        flagged = g[g["phishing"] | g["phishing_small"]]
        lines.append(f"pooled       {tier:22s} {int(flagged['malicious'].sum())} of {len(flagged)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Draw the worlds (or rescore kept ones), run the pipeline on each, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10, help="worlds to draw (seeds start, start+1, ...)")
    ap.add_argument("--start", type=int, default=5000, help="first seed")
    ap.add_argument("--keep", type=Path, default=Path("/tmp/phishing_network"), help="folder for the worlds")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="rerun only graph and entities on the worlds already under --keep, then score them",
    )
    ap.add_argument("--json", type=Path, help="write every world's figures here")
    ap.add_argument(
        "--precision",
        action="store_true",
        help="run nothing: how often each phishing pattern tier flags a perpetrator in the draws kept "
        "under --keep (--start, --draws) and in finished quality worlds under --kept-worlds",
    )
    ap.add_argument("--kept-worlds", type=Path, help="with --precision: kept quality worlds (world_N/data)")
    args = ap.parse_args(argv)
    if args.precision:
        seeds = range(args.start, args.start + args.draws)
        print(pattern_precision([args.keep / f"net_{s}" for s in seeds], args.kept_worlds))
        return 0
    results = []
    for seed in range(args.start, args.start + args.draws):
        base = args.keep / f"net_{seed}"
        data = base / "data"
        if args.rescore:
            truth = json.loads((base / "truth.json").read_text())
            # Roles as this version of the generator names them (the same draw: same seed).
            truth["roles"] = generate(seed).roles
            tx = pd.read_csv(base / "export" / "transactions.csv", dtype={"value": str})
            select = "(group:graph or group:entities) and not key:entities/alerts"
        else:
            world = generate(seed)
            base.mkdir(parents=True, exist_ok=True)
            write_export(world, base / "export")
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            truth = json.loads((base / "truth.json").read_text())
            tx = world.transactions
            select = SELECT
        code, wall, cpu = run_pipeline(base / "export", data, base / "run.log", select)
        if code != 0:
            print(f"world {seed}: pipeline failed (exit {code}), see {base / 'run.log'}", flush=True)
            continue
        figures = score(data, truth, tx)
        figures.update(seed=seed, wall_s=round(wall, 1), cpu_s=round(cpu, 1), transactions=len(tx))
        results.append(figures)
        print(_line(seed, figures) + f" ({len(tx)} tx, {wall:.0f} s wall, {cpu:.0f} s CPU)", flush=True)
    if not results:
        return 1
    print(f"\nOver {len(results)} worlds:")
    print(summarize(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
