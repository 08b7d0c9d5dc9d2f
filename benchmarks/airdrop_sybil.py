"""Entity clusters on a sparse airdrop graph: planted sybil groups on a real background, pairs only.

Community sybil reports for airdrops give transfers as bare sender/receiver pairs (no time, no
value). This benchmark builds such a population and runs the real pipeline on it:

- **Background**: the 19,999 real transactions of blocks 3,300,000-3,302,204 (2017-03-06) in
  `../shared/data/raphtory_tx_sample/transactions_03300000_03399999_small.csv.gz` (Raphtory test
  data, https://github.com/Raphtory/Data commit e377ea5, Apache-2.0; see the folder's README.txt):
  exchanges, contracts and people with the real degree distribution and real hubs. Contract
  creations (no receiver) are left out; every other row is kept as a pair.
- **Planted sybil groups**, in the shapes public airdrop sybil reports describe: a star disperse
  from one funder, a sequential chain (each wallet funds the next), relay trees (funder -> relays
  -> wallets), consolidation to one collector (each wallet gets gas from an exchange withdrawal),
  star + collector, random funding trees, star or tree groups whose members also pay each other,
  and groups funded only by exchange withdrawals that sweep back to an exchange (nothing in the
  pairs ties them together: scored apart as `exchange_only`). Sizes are heavy-tailed (3 to 300,
  log-normal), funders are themselves funded by an exchange withdrawal, and members touch the
  real hubs (the background's busiest addresses: exchange hot wallets, popular contracts) a few
  times and now and then pay a real person. The mix of shapes and every rate are drawn per world
  from a range (`draw_world`), so no world is the one we tuned to.

Output per draw: `export/transactions.csv` with `from_address,to_address` only (docs/files_source.md,
"Sender/receiver-only transactions"), rows shuffled. The pipeline's files path loads it and builds
the graph and the entities (`dagster asset materialize --select 'group:ingestion or group:graph or
group:entities'`, the assets `wallet-pipeline materialize --files-dir` runs, without dbt and
personas, which the entities do not need on pairs), in the draw's own data folder.

Scores, per draw: B-cubed precision / recall / F1 of `entities.wallet_clusters` over the sybil
addresses of recoverable groups (an unclustered address is its own singleton): precision counts
only sybil addresses in a cluster (`sybil`), and also with every real background address in the
cluster counted as a singleton of its own (`with background`: a group glued to real people loses
precision). Next to ours, baselines computed here on the same pairs: connected components of all
pairs, connected components after removing hubs (degree above the 99.5th percentile of the draw's
address degrees), NetworkX label propagation and Louvain (seeded, on all pairs). Reported: median
and worst decile over the draws, overall and per shape; and the share of exchange-only groups'
wallets that share a cluster with a member of their own group (expected near zero).

    .venv/bin/python benchmarks/airdrop_sybil.py --draws 10 --work /tmp/sybil/airdrop
    .venv/bin/python benchmarks/airdrop_sybil.py --draws 10 --work /tmp/sybil/airdrop --direct

`--direct` skips Dagster: it reuses each draw's loaded `raw.transactions` (run the pipeline once
first) and calls `build_edges` and `cluster_edges` in-process, for iterating on the rules; the
figures to quote come from pipeline runs. `--reuse` scores the draws as the pipeline last left
them (nothing is run), e.g. draws loaded by an older commit.

Risk, per draw (`risk_scores`): how well a score ranks the sybil addresses (every planted address,
exchange-only groups included) above the real background addresses (every address of the
background's pairs): ROC AUC and average precision of our wallet risk (`entities.wallet_risk`,
an address without a row scores 0), beside three plain scores: degree (distinct counterparties),
the size of our cluster (1 when unclustered) and the size of its component without hubs. Also
the share of sybils at Medium or above and at High or above, and of background addresses at High
or above.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import average_precision_score, roc_auc_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.dagster_runs import files_env, materialize  # noqa: E402
from wallet_pipeline.logic.graph.evaluation import bcubed  # noqa: E402

BACKGROUND = (
    ROOT.parent / "shared" / "data" / "raphtory_tx_sample" / "transactions_03300000_03399999_small.csv.gz"
)
SHAPES = (
    "star",
    "chain",
    "relay_tree",
    "consolidation",
    "star_collector",
    "random_tree",
    "paying_each_other",
    "exchange_only",
)
# Hubs for the baseline that removes them: addresses whose degree is above this percentile of the
# draw's degrees. On the background alone the 99.5th percentile is 22 counterparties (5 of 10,896
# addresses have 1,000 or more); a sybil funder paying many wallets is above it too, which is the
# baseline's weakness this figure shows.
HUB_PERCENTILE = 99.5
# The background's busiest addresses that sybil members touch: degree at least this many
# (33 addresses: exchange hot wallets, token and exchange contracts, pools).
TOUCH_HUB_MIN_DEGREE = 50


def load_background() -> pd.DataFrame:
    """The background's pairs, lowercase; contract creations (no receiver) left out."""
    con = duckdb.connect()
    try:
        return con.sql(
            f"""
            select lower(from_address) from_address, lower(to_address) to_address
            from read_csv('{BACKGROUND}', all_varchar = true)
            where to_address is not null and to_address <> ''
            """
        ).df()
    finally:
        con.close()


def degrees(pairs: pd.DataFrame) -> pd.Series:
    """Distinct counterparties per address, both directions."""
    both = pd.concat(
        [
            pairs.rename(columns={"from_address": "a", "to_address": "b"}),
            pairs.rename(columns={"from_address": "b", "to_address": "a"}),
        ]
    ).drop_duplicates()
    return both.groupby("a").size()


def _address(rng: np.random.Generator) -> str:
    return "0x" + rng.bytes(20).hex()


def draw_world(seed: int) -> dict:
    """Per-world mix of shapes and rates, each drawn from a range."""
    rng = np.random.default_rng(seed)
    mix = rng.dirichlet(np.ones(len(SHAPES)))
    return {
        "seed": seed,
        "groups": int(rng.integers(30, 81)),
        "shape_mix": dict(zip(SHAPES, mix.round(4).tolist(), strict=True)),
        "size_median": float(rng.uniform(6, 20)),  # log-normal median of group sizes
        "size_sigma": float(rng.uniform(0.7, 1.2)),
        "hub_touch_rate": float(rng.uniform(0.2, 0.8)),  # members that touch real hubs
        "hub_withdraw_share": float(rng.uniform(0.1, 0.5)),  # of touches, a hub paying the member
        "person_touch_rate": float(rng.uniform(0.0, 0.1)),  # members paying a real person
        "inner_pay_rate": float(rng.uniform(0.3, 1.5)),  # extra member-to-member payments per member
        "relay_fanout": float(rng.uniform(3, 12)),  # wallets per relay
    }


def _tree(rng: np.random.Generator, members: list[str], shape: str, world: dict) -> list[tuple[str, str]]:
    """Funding pairs of a group rooted at members[0]."""
    root, rest = members[0], members[1:]
    if shape == "star":
        return [(root, m) for m in rest]
    if shape == "chain":
        return list(zip(members, members[1:], strict=False))
    if shape == "relay_tree":
        k = max(1, int(round(len(rest) / (world["relay_fanout"] + 1))))
        relays, leaves = rest[:k], rest[k:]
        out = [(root, r) for r in relays]
        out += [(relays[int(rng.integers(len(relays)))], leaf) for leaf in leaves]
        return out
    # A random recursive tree: each wallet is funded by one already funded.
    return [(members[int(rng.integers(i + 1))], m) for i, m in enumerate(rest)]


def plant(
    rng: np.random.Generator, world: dict, hubs: list[str], people: list[str]
) -> tuple[list, pd.DataFrame]:
    """The planted groups' pairs and one truth row per member (address, group, shape)."""
    pairs: list[tuple[str, str]] = []
    truth: list[tuple[str, str, str]] = []
    mix = np.array(list(world["shape_mix"].values()))
    shapes = rng.choice(SHAPES, size=world["groups"], p=mix / mix.sum())
    hub_w = np.ones(len(hubs))
    for g, shape in enumerate(shapes):
        size = int(np.clip(round(rng.lognormal(np.log(world["size_median"]), world["size_sigma"])), 3, 300))
        members = [_address(rng) for _ in range(size)]
        name = f"g{g:03d}"

        def hub() -> str:
            return hubs[int(rng.choice(len(hubs), p=hub_w / hub_w.sum()))]

        if shape == "exchange_only":
            for m in members:
                pairs.append((hub(), m))
                pairs.append((m, hub()))
        elif shape == "consolidation":
            collector, wallets = members[0], members[1:]
            for m in wallets:
                pairs.append((hub(), m))  # gas from an exchange withdrawal
                pairs.append((m, collector))
            pairs.append((collector, hub()))
        else:
            tree_shape = "star" if shape == "star_collector" else shape
            if shape == "paying_each_other":
                tree_shape = "star" if rng.random() < 0.5 else "random_tree"
            pairs.append((hub(), members[0]))  # the funder's own money came from an exchange
            pairs += _tree(rng, members, tree_shape, world)
            if shape == "star_collector":
                collector = _address(rng)
                members.append(collector)
                pairs += [(m, collector) for m in members[1:-1]]
                pairs.append((collector, hub()))
            if shape == "paying_each_other":
                for _ in range(int(round(world["inner_pay_rate"] * size))):
                    a, b = rng.choice(size, size=2, replace=False)
                    pairs.append((members[a], members[b]))
        for m in members:
            if rng.random() < world["hub_touch_rate"]:
                for _ in range(int(rng.integers(1, 4))):
                    pairs.append((hub(), m) if rng.random() < world["hub_withdraw_share"] else (m, hub()))
            if rng.random() < world["person_touch_rate"]:
                pairs.append((m, people[int(rng.integers(len(people)))]))
            truth.append((m, name, str(shape)))
    return pairs, pd.DataFrame(truth, columns=["address", "group", "shape"])


def make_draw(seed: int, background: pd.DataFrame, folder: Path) -> dict:
    """Write one draw's export, truth and world settings under `folder`."""
    world = draw_world(seed)
    rng = np.random.default_rng(seed + 1_000_003)
    deg = degrees(background)
    hubs = sorted(deg[deg >= TOUCH_HUB_MIN_DEGREE].index)
    people = sorted(deg[deg <= 3].index)
    planted, truth = plant(rng, world, hubs, people)
    pairs = pd.concat(
        [background, pd.DataFrame(planted, columns=["from_address", "to_address"])], ignore_index=True
    )
    pairs = pairs.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    export = folder / "export"
    export.mkdir(parents=True, exist_ok=True)
    pairs.to_csv(export / "transactions.csv", index=False)
    truth.to_csv(folder / "truth.csv", index=False)
    world["rows"] = len(pairs)
    world["sybil_wallets"] = len(truth)
    (folder / "world.json").write_text(json.dumps(world, indent=1))
    return world


def run_pipeline(folder: Path) -> float:
    """The real assets on the draw's export, in the draw's own data folder; CPU seconds of the child."""
    data = folder / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    select = "group:ingestion or group:graph or group:entities"
    cost = materialize(select, files_env(folder / "export", data), folder / "run.log")
    if cost.code != 0:
        raise RuntimeError(f"pipeline failed on {folder}: see {folder / 'run.log'}")
    return cost.cpu_s


def our_clusters(folder: Path, direct: bool) -> pd.DataFrame:
    """Our clusters of a draw: the pipeline's table, or (`direct`) the rules run in-process."""
    db = folder / "data" / "wallet_pipeline.duckdb"
    if not direct:
        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.sql("select address, cluster_id from entities.wallet_clusters").df()
        finally:
            con.close()
    from wallet_pipeline.logic.graph import GraphConfig, build_edges, cluster_edges

    con = duckdb.connect()
    con.execute(f"attach '{db}' as loaded (read_only)")
    con.execute("create schema raw")
    # Copied in SQL, so the columns the files path left empty keep their types.
    con.execute("create table raw.transactions as select * from loaded.raw.transactions")
    con.execute("detach loaded")
    cfg = GraphConfig(features_table=None)
    edges = build_edges(con, cfg).edges
    edges.to_parquet(folder / "direct_edges.parquet")
    return cluster_edges(edges, cfg).clusters[["address", "cluster_id"]]


def edge_precision(folder: Path, truth: pd.DataFrame, direct: bool) -> list[dict]:
    """Join precision of each rule and weight on one draw.

    Of a rule's edges touching a sybil wallet, the share joining two wallets of one planted group.
    Edges between two background addresses have no truth and are only counted (`background_only`).
    """
    if direct:
        edges = pd.read_parquet(folder / "direct_edges.parquet")
    else:
        con = duckdb.connect(str(folder / "data" / "wallet_pipeline.duckdb"), read_only=True)
        try:
            edges = con.sql("select src, dst, edge_type, weight from graph.wallet_edges").df()
        finally:
            con.close()
    group = truth.set_index("address")["group"]
    a, b = edges["src"].map(group), edges["dst"].map(group)
    e = edges.assign(touches=a.notna() | b.notna(), ok=a.notna() & (a == b), w=edges["weight"].round(2))
    out = []
    for (kind, w), g in e.groupby(["edge_type", "w"]):
        t = g[g["touches"]]
        out.append(
            {
                "edge_type": kind,
                "weight": float(w),
                "edges_touching_sybils": int(len(t)),
                "joins_one_group": int(t["ok"].sum()),
                "background_only": int((~g["touches"]).sum()),
            }
        )
    return out


def baselines(pairs: pd.DataFrame, seed: int) -> dict[str, pd.Series]:
    """Labels per address (index) of each baseline on the undirected graph of all pairs."""
    nodes, inv = np.unique(pairs[["from_address", "to_address"]].to_numpy().ravel(), return_inverse=True)
    r, c = inv[0::2], inv[1::2]
    n = len(nodes)
    out: dict[str, pd.Series] = {}
    g = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    out["components"] = pd.Series(connected_components(g, directed=False)[1], index=nodes)
    deg = degrees(pairs).reindex(nodes).to_numpy()
    cut = np.percentile(deg, HUB_PERCENTILE)
    keep = (deg[r] <= cut) & (deg[c] <= cut)
    g = sp.coo_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(n, n))
    labels = connected_components(g, directed=False)[1].astype(np.int64)
    hub_idx = np.flatnonzero(deg > cut)
    labels[hub_idx] = labels.max() + 1 + np.arange(len(hub_idx))  # a removed hub stands alone
    out["components_without_hubs"] = pd.Series(labels, index=nodes)
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(r.tolist(), c.tolist(), strict=True))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    for name, comms in (
        ("nx_label_propagation", nx.community.label_propagation_communities(graph)),
        ("nx_louvain", nx.community.louvain_communities(graph, seed=seed)),
    ):
        labels = np.arange(n)
        for k, comm in enumerate(comms):
            labels[np.fromiter(comm, dtype=np.int64)] = n + k
        out[name] = pd.Series(labels, index=nodes)
    out["cut"] = pd.Series([cut])
    return out


def score(truth: pd.DataFrame, labels: pd.Series, background: set[str]) -> dict:
    """B-cubed of one labelling (address -> label; absent = singleton) over the planted groups."""
    rec = truth[truth["shape"] != "exchange_only"]
    lab = labels.astype(str)
    pred = rec["address"].map(lab)
    pred = pred.where(pred.notna(), "solo:" + rec["address"])
    s = bcubed(rec["group"].reset_index(drop=True), pred.reset_index(drop=True))
    # With background: every real address in a cluster of a sybil counts as a singleton truth.
    in_sybil_clusters = set(pred)
    bg = lab[lab.index.isin(background) & lab.isin(in_sybil_clusters)]
    cluster_size_bg = bg.value_counts()
    sizes = pred.value_counts()
    both = pred.map(sizes).to_numpy()
    extra = pred.map(cluster_size_bg).fillna(0).to_numpy()
    pb = s["precision"].to_numpy() * both / (both + extra)
    # Background items themselves: each shares its cluster with the sybils there.
    bg_prec = (1.0 / bg.map(sizes.add(cluster_size_bg, fill_value=0))).to_numpy()
    n_items = len(s) + len(bg)
    prec_bg = (pb.sum() + bg_prec.sum()) / n_items if n_items else 0.0
    rec_bg = (s["recall"].sum() + len(bg)) / n_items if n_items else 0.0

    def f1(p: float, r: float) -> float:
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    p, r = float(s["precision"].mean()), float(s["recall"].mean())
    per_shape = {}
    for shape, idx in rec.reset_index(drop=True).groupby("shape").groups.items():
        sp_, sr = float(s["precision"][idx].mean()), float(s["recall"][idx].mean())
        per_shape[shape] = {"precision": sp_, "recall": sr, "f1": f1(sp_, sr)}
    ex = truth[truth["shape"] == "exchange_only"]
    ex_pred = ex["address"].map(lab)
    ex_joined = ex.assign(p=ex_pred).dropna(subset=["p"]).groupby(["group", "p"])["address"].transform("size")
    return {
        "precision": p,
        "recall": r,
        "f1": f1(p, r),
        "precision_with_background": float(prec_bg),
        "f1_with_background": f1(float(prec_bg), float(rec_bg)),
        "background_in_sybil_clusters": len(bg),
        "exchange_only_joined": float((ex_joined > 1).sum() / len(ex)) if len(ex) else float("nan"),
        "per_shape": per_shape,
    }


RISK_SCORES = ("risk", "degree", "our_cluster_size", "component_without_hubs_size")
# The risk patterns read from the pairs alone, whose precision sets their strength (docs/risk.md).
PAIR_PATTERNS = ("farm_swept", "farm_structure", "farm_small", "services_only")


def risk_scores(
    folder: Path, truth: pd.DataFrame, background: set[str], pairs: pd.DataFrame, components: pd.Series
) -> dict:
    """Ranking of sybils above real background addresses by our risk and the plain scores.

    `components` labels every address by its component without hubs (`baselines`).
    """
    con = duckdb.connect(str(folder / "data" / "wallet_pipeline.duckdb"), read_only=True)
    try:
        risk = con.sql("select address, risk_score, risk_level, patterns from entities.wallet_risk").df()
        clusters = con.sql("select address, cluster_id from entities.wallet_clusters").df()
    finally:
        con.close()
    sybils = set(truth["address"])
    nodes = pd.Index(sorted((background | sybils) & (set(pairs["from_address"]) | set(pairs["to_address"]))))
    y = nodes.isin(sybils)
    cid = clusters.set_index("address")["cluster_id"]
    r = risk.set_index("address")
    level = r["risk_level"].reindex(nodes).fillna("Minimal")
    scores = {
        "risk": r["risk_score"].reindex(nodes).fillna(0.0),
        "degree": degrees(pairs).reindex(nodes).fillna(0),
        "our_cluster_size": cid.map(cid.value_counts()).reindex(nodes).fillna(1),
        "component_without_hubs_size": components.map(components.value_counts()).reindex(nodes).fillna(1),
    }
    high = level.isin(["High", "Critical"]).to_numpy()
    medium = high | (level == "Medium").to_numpy()
    flagged = r["patterns"].reindex(nodes).fillna("").str.split(",")
    return {
        "patterns": {
            p: {"sybils": int((has & y).sum()), "real": int((has & ~y).sum())}
            for p in PAIR_PATTERNS
            for has in [flagged.map(lambda v, p=p: p in v).to_numpy(dtype=bool)]
        },
        "sybils": int(y.sum()),
        "background": int((~y).sum()),
        "auc": {k: float(roc_auc_score(y, v)) for k, v in scores.items()},
        "average_precision": {k: float(average_precision_score(y, v)) for k, v in scores.items()},
        "sybils_medium_or_above": float(medium[y].mean()),
        "sybils_high_or_above": float(high[y].mean()),
        "background_high_or_above": float(high[~y].mean()),
    }


def run(args: argparse.Namespace) -> dict:
    """Every draw: make it, run the pipeline (unless `direct`), score ours and the baselines."""
    background = load_background()
    bg_addresses = set(background["from_address"]) | set(background["to_address"])
    results = []
    for k in range(args.draws):
        seed = args.first_seed + k
        folder = args.work / f"draw_{seed}"
        started = time.monotonic()
        if not (args.direct or args.reuse):
            shutil.rmtree(folder, ignore_errors=True)
            world = make_draw(seed, background, folder)
            cpu = run_pipeline(folder)
        else:
            world = json.loads((folder / "world.json").read_text())
            cpu = float("nan")
        truth = pd.read_csv(folder / "truth.csv")
        ours = our_clusters(folder, args.direct)
        labels = {"ours": ours.set_index("address")["cluster_id"]}
        pairs = pd.read_csv(folder / "export" / "transactions.csv")
        if not args.no_baselines:
            base = baselines(pairs, seed)
            world["hub_cut_degree"] = float(base.pop("cut").iloc[0])
            labels.update(base)
        row = {"seed": seed, "world": world, "cpu_s": cpu, "wall_s": time.monotonic() - started}
        row["scores"] = {name: score(truth, lab, bg_addresses) for name, lab in labels.items()}
        row["edges"] = edge_precision(folder, truth, args.direct)
        if not (args.direct or args.no_baselines):
            row["risk"] = risk_scores(folder, truth, bg_addresses, pairs, labels["components_without_hubs"])
        results.append(row)
        o = row["scores"]["ours"]
        print(
            f"draw {seed}: {world['sybil_wallets']} sybil wallets in {world['groups']} groups; ours P "
            f"{o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} (with background P "
            f"{o['precision_with_background']:.3f}); pipeline CPU {cpu:.1f} s",
            flush=True,
        )
        if not args.no_baselines:
            print(
                "  sybil F1 / P with background: "
                + ", ".join(
                    f"{m} {row['scores'][m]['f1']:.3f} / {row['scores'][m]['precision_with_background']:.3f}"
                    for m in ("ours", "components", "components_without_hubs")
                ),
                flush=True,
            )
        if "risk" in row:
            auc = row["risk"]["auc"]
            print(
                "  risk AUC "
                + ", ".join(f"{k} {auc[k]:.3f}" for k in RISK_SCORES)
                + f"; sybils at High+ {row['risk']['sybils_high_or_above']:.3f}, background at High+ "
                f"{row['risk']['background_high_or_above']:.4f}",
                flush=True,
            )
    return {"draws": results}


def _q(values: list[float], q: float) -> float:
    v = [x for x in values if x == x]
    return float(np.quantile(v, q)) if v else float("nan")


def report(out: dict) -> None:
    """Print median and worst decile over the draws, overall and per shape."""
    draws = out["draws"]
    methods = list(draws[0]["scores"])
    print(f"\nOver {len(draws)} draws (median / worst decile):")
    head = ("method", "precision", "recall", "F1", "P with bg", "F1 with bg", "exch-only joined")
    print("".join(f"{h:>24}" if i == 0 else f"{h:>18}" for i, h in enumerate(head)))
    for m in methods:
        cells = []
        for key, worst in (
            ("precision", 0.1),
            ("recall", 0.1),
            ("f1", 0.1),
            ("precision_with_background", 0.1),
            ("f1_with_background", 0.1),
            ("exchange_only_joined", 0.9),
        ):
            vals = [d["scores"][m][key] for d in draws]
            cells.append(f"{_q(vals, 0.5):.3f} / {_q(vals, worst):.3f}")
        print(f"{m:>24}" + "".join(f"{c:>18}" for c in cells))
    print("\nF1 per shape (median / worst decile over the draws that have the shape):")
    print(f"{'shape':>20}" + "".join(f"{m:>26}" for m in methods))
    for shape in SHAPES:
        if shape == "exchange_only":
            continue
        cells = []
        for m in methods:
            vals = [
                d["scores"][m]["per_shape"][shape]["f1"]
                for d in draws
                if shape in d["scores"][m]["per_shape"]
            ]
            cells.append(f"{_q(vals, 0.5):.3f} / {_q(vals, 0.1):.3f} ({len(vals)})")
        print(f"{shape:>20}" + "".join(f"{c:>26}" for c in cells))
    rules = pd.DataFrame([r for d in draws for r in d.get("edges", [])])
    if len(rules):
        pooled = rules.groupby(["edge_type", "weight"]).sum(numeric_only=True)
        pooled["precision"] = pooled["joins_one_group"] / pooled["edges_touching_sybils"].where(
            pooled["edges_touching_sybils"] > 0
        )
        print("\nEdges per rule and weight, pooled over the draws (precision: of edges touching a sybil):")
        print(pooled.to_string(float_format=lambda x: f"{x:.3f}"))
    risked = [d["risk"] for d in draws if "risk" in d]
    if risked:
        print("\nSybils above real background addresses, per score (median / worst decile over the draws):")
        print(f"{'score':>30}{'ROC AUC':>18}{'average precision':>20}")
        for k in RISK_SCORES:
            auc = [r["auc"][k] for r in risked]
            ap = [r["average_precision"][k] for r in risked]
            print(
                f"{k:>30}{_q(auc, 0.5):>10.3f} / {_q(auc, 0.1):.3f}{_q(ap, 0.5):>12.3f} / {_q(ap, 0.1):.3f}"
            )
        pooled = {
            p: [sum(r["patterns"][p][k] for r in risked) for k in ("sybils", "real")] for p in PAIR_PATTERNS
        }
        print("pairs-only patterns, sybils of flagged (pooled over the draws): ")
        print("; ".join(f"{p} {s} of {s + n}" for p, (s, n) in pooled.items()))
        for key, worst in (
            ("sybils_medium_or_above", 0.1),
            ("sybils_high_or_above", 0.1),
            ("background_high_or_above", 0.9),
        ):
            vals = [r[key] for r in risked]
            print(f"{key}: {_q(vals, 0.5):.4f} / {_q(vals, worst):.4f}")
    cpu = [d["cpu_s"] for d in draws]
    print(f"\npipeline CPU seconds per draw: median {_q(cpu, 0.5):.1f}, max {max(cpu):.1f}")


def kept_world_precision(worlds: Path) -> dict[str, list[int]]:
    """Per pairs-only pattern, [malicious, flagged] over kept quality worlds (`world_*/data`).

    The patterns are forced on (`pairs_only=True`) although the worlds have timestamps: how often
    each shape is a perpetrator's among the simulator's people, exchange users and services. Read
    only; an address missing from `ground_truth.wallets` counts as benign.
    """
    from wallet_pipeline.logic.graph.risk import pattern_wallets

    out = {p: [0, 0] for p in PAIR_PATTERNS}
    for db in sorted(worlds.glob("world_*/data/wallet_pipeline.duckdb")):
        con = duckdb.connect(str(db), read_only=True)
        try:
            edges = con.sql("select * exclude (evidence) from graph.wallet_edges").df()
            found = pattern_wallets(con, edges, pairs_only=True)
            bad = set(con.sql("select address from ground_truth.wallets where is_malicious").df()["address"])
        finally:
            con.close()
        names = found["patterns"].str.split(",")
        for p in PAIR_PATTERNS:
            hit = found.loc[names.map(lambda v, p=p: p in v), "address"]
            out[p][0] += int(hit.isin(bad).sum())
            out[p][1] += len(hit)
        print(f"{db.parent.parent.name}: " + ", ".join(f"{p} {m} of {n}" for p, (m, n) in out.items()))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/airdrop_sybil"))
    parser.add_argument("--direct", action="store_true", help="reuse loaded draws, cluster in-process")
    parser.add_argument("--reuse", action="store_true", help="score the draws as last loaded, run nothing")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--kept-worlds", type=Path, help="only the pairs-only patterns' precision on kept quality worlds"
    )
    args = parser.parse_args(argv)
    if args.kept_worlds:
        counts = kept_world_precision(args.kept_worlds)
        print("pooled: " + "; ".join(f"{p} {m} of {n} malicious" for p, (m, n) in counts.items()))
        return 0
    out = run(args)
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
