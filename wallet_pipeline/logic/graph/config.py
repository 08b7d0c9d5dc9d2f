"""Settings of the wallet graph: edge rules, hub guards and clustering, one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# Burn addresses that are not wallets: transfers to them link nobody.
BURN_ADDRESSES = (
    ZERO_ADDRESS,
    "0x000000000000000000000000000000000000dead",
    "0xdead000000000000000042069420694206942069",
)


# Label types whose addresses serve many unrelated users: they never glue groups. A mining pool
# pays every miner of the pool, like an exchange's hot wallet pays its customers.
HUB_LABEL_TYPES = (
    "exchange",
    "bridge",
    "mixer",
    "dex",
    "nft_marketplace",
    "defi",
    "airdrop",
    "sanctioned",
    "miner",
)

# Hub label types that name contracts (routers, marketplaces, distributors, bridges, mixers): paying
# one is using a protocol, not handing funds to a wallet.
CONTRACT_LABEL_TYPES = ("dex", "nft_marketplace", "defi", "airdrop", "bridge", "mixer")


@dataclass(frozen=True)
class GraphConfig:
    """Every threshold of the edge rules, hub guards and clustering.

    Weights are in [0, 1]; an edge with `weight < min_cluster_weight` stays in the edge table as
    evidence but does not take part in clustering.
    """

    schema: str = "raw"
    features_table: str | None = "marts.wallet_features"
    evidence_cap: int = 5

    # Bad-input guards.
    dust_eth: float = 1e-4  # ETH transfers below this are dust: no link
    dust_token_units: float = 0.1  # token transfers below this many whole tokens are dust

    # Weights are the measured precision of each rule (the share of its edges that join two wallets
    # of one planted entity) over 20 random simulator worlds, `benchmarks/edge_evidence.py`; the
    # table and its figures are in docs/graph.md.
    # direct_transfer: payments between people are not evidence of common control on their own
    # (precision: single 0.03, reciprocal 0.01, three or more one way 0.56 with a worst decile of
    # 0.15), so every kind stays below `min_cluster_weight`: they only support other evidence.
    direct_single_weight: float = 0.05
    direct_repeat_min: int = 3
    direct_repeat_weight: float = 0.25
    direct_reciprocal_weight: float = 0.05
    # Transfers between two hubs (hot wallets of one exchange rebalancing): precision 0.87.
    direct_hub_weight: float = 0.85

    # common_funder: first funding of fresh wallets from one source within a window, similar amounts.
    funder_window_hours: float = 6.0
    funder_amount_tolerance: float = 0.05
    funder_min_members: int = 3

    # sweep: many wallets forwarding to one collector in a burst.
    sweep_window_hours: float = 6.0
    sweep_min_senders: int = 5
    sweep_min_share: float = 0.8

    # deposit_address: forwards (almost) all it receives to hubs.
    deposit_forward_share: float = 0.9
    deposit_min_value_ratio: float = 0.8
    deposit_max_senders: int = 20
    # Weight of a sender -> deposit address edge by how many senders the address has: one sender is
    # one customer (precision 0.74 before restricting forwards to EOA hubs); more senders are more
    # often unrelated customers of a shared address, which then belongs to the exchange
    # (`service_deposit`).
    deposit_weights: tuple[float, ...] = (1.0, 0.45, 0.2)  # 1 sender, 2 senders, 3 or more
    deposit_shared_min_senders: int = 3
    # Measured precision 0.0: an address with three or more senders is far more often one customer's
    # address than the exchange's shared one, so the edge flags the service but joins nothing.
    service_deposit_weight: float = 0.0

    # hot_wallet_topup: an exchange hub refilling an EOA that pays out to many: its other hot wallet.
    topup_min_transfers: int = 3
    topup_min_payees: int = 20
    topup_min_inflow_share: float = 0.8  # of the refilled wallet's incoming transfers
    topup_max_contract_share: float = 0.05  # of its payments: a service pays people, not DEX pools
    topup_weight: float = 0.9

    # Structural rules that need only sender and receiver (no time, no value).
    # funding_tree: A -> B where A is B's only EOA payer; trees of such links of at least
    # `tree_min_size` wallets (stars, relay trees, chains) join whole. With `tree_dominators`, also
    # groups of wallets every payment into which comes through one source (farms paying each other),
    # whose source pays mostly inside (`tree_min_share`).
    tree_min_size: int = 4
    tree_min_share: float = 0.5
    tree_handoff_min_payers: int = 3
    tree_handoff_weight: float = 0.3
    tree_weight: float = 1.0
    # Wallets paying each other in a cycle count as one source up to this many; a larger cycle set
    # is people paying people (the 2017 background of the airdrop benchmark has one of 663
    # wallets). Measured on its 10 draws (in-process): 20 and 50 both give sybil F1 0.882 / 0.741
    # (median / worst decile), 300 gives 0.860 / 0.741.
    tree_max_cycle_members: int = 50
    tree_dominators: bool = True
    # A payer whose only-paid wallets are nearly all leaves (at most this share of them are the
    # only payer of two or more wallets) is a payout star: its link into the few that are is a
    # payment to an operator, not a relay, and weighs `tree_small_weight`. On the 10 airdrop draws
    # links into such a wallet from payers at share <= 0.1 were 19 real -> planted, 31 real -> real
    # and none inside a planted group; at 0.1-0.2, 11 inside (docs/graph.md). None: off.
    tree_payout_max_head_share: float | None = 0.1
    tree_ignore_service_payers: bool = True
    # A group of `structure_strong_min_size` wallets or more is strong only when this share of
    # its members' links to people stays inside it; otherwise its source is set aside and its
    # sub-groups examined. Kept worlds 1000-1004: at 0.6 the strong links were 83% right, at 0.8
    # 95% (the rule without the test: 93%); docs/graph.md.
    tree_strong_min_closure: float = 0.8
    # A tree or collector star of fewer than `structure_strong_min_size` wallets is evidence only:
    # over the 20 kept worlds, trees of 4 and 5 wallets joined one actor's wallets in 12% and 10%
    # of their links and collectors paid by 3-5 wallets in none (people paying people); the
    # largest such structure of people had 6 wallets, and from 11 wallets on they were 93-100%
    # right (sybil farms). Small ones weigh their measured precision.
    structure_strong_min_size: int = 11
    tree_small_weight: float = 0.1
    collector_small_weight: float = 0.0
    # collector: at least `collector_min_senders` wallets whose only EOA payee is one collector.
    collector_min_senders: int = 3
    collector_min_share: float = 0.8
    collector_weight: float = 1.0
    collector_max_payees: int = 2
    # A service pays and is paid by at least this many distinct non-contract addresses.
    service_min_counterparties: int = 10

    # peel_forward: forwards most of what it just received to a fresh wallet.
    peel_min_ratio: float = 0.85
    peel_window_hours: float = 24.0
    peel_weight: float = 0.3  # measured precision 0.33: a person forwarding a payment is common

    # peel_chain: every hop of a chain of peel_forward senders joins the chain's first hop.
    peel_chain_min_hops: int = 4
    peel_chain_weight: float = 1.0
    # chain_deposit: a deposit address whose senders are all hops of one peel chain.
    chain_deposit_weight: float = 1.0
    # Funding and scam-label links from outside a peel chain into one of its hops (money entering
    # the chain) weigh this much: see `group_rules.detach_chain_entries`.
    chain_entry_weight: float = 0.0

    # wash_cycle: a token (or one NFT) passed around a directed cycle at near-equal amounts.
    # Each hop seen at least twice: a window shorter than the ring's rhythm cuts its last round
    # (fresh world 3205, 8 days: a six-wallet ring's closing hop seen twice, the ring Minimal at 3).
    # Over the 20 kept and 10 fresh worlds, 2 gives 203 links, all right, and finds all 60 rings;
    # 3 gives 198, all right, and 59.
    wash_min_repeats: int = 2
    wash_amount_tolerance: float = 0.02
    wash_min_len: int = 3
    wash_max_len: int = 8
    wash_max_component: int = 200
    wash_weight: float = 1.0

    # nft_repeat_trade: the same two wallets trade NFTs again and again.
    nft_repeat_min: int = 3
    nft_repeat_weight: float = 0.3  # measured precision 0.32: traders meet again on popular collections

    # token_cohold: shared rare tokens.
    cohold_max_holders: int = 50
    cohold_min_shared: int = 2
    cohold_weight_cap: float = 0.5

    # fingerprint: same contract + method in the same short window, repeatedly.
    fingerprint_window_minutes: int = 30
    fingerprint_max_group: int = 80
    fingerprint_min_cooccur: int = 3
    fingerprint_max_calls: int = 200
    fingerprint_min_share: float = 0.5
    fingerprint_weight: float = 0.5  # precision 0.85 pooled but 0.69 in the worst decile: not strong

    # co_creation: only a token's controller moves tokens out of addresses it is not (precision 1.0).
    co_creation_weight: float = 1.0

    # deployer_funding: a deployer whose first ETH came from a wallet, and who paid that wallet
    # back at least `deployer_return_ratio` times as much (proceeds swept to the launch operator).
    # The ratio 1 asks for no profit, only the round trip. Measured precision: see docs/graph.md.
    deployer_return_ratio: float = 1.0
    deployer_funding_weight: float = 0.9

    # scam_label: direct transfers with an address labelled scam.
    # Precision 0.54 (victims paying a scammer are not the scammer); under `strong_weight`.
    scam_weight: float = 0.5

    # Hubs.
    hub_label_types: tuple[str, ...] = HUB_LABEL_TYPES
    hub_min_degree: int = 300  # distinct counterparties past which an EOA is a hub

    # Clustering.
    method: str = "lpa"  # "lpa" (compiled asynchronous label propagation) or "louvain" (NetworkX)
    seed: int = 0
    # A pair joins a cluster when its summed weight reaches `min_cluster_weight`: an edge that is
    # right about as often as not. Pairs at `strong_weight` or more (rules with measured precision
    # >= 0.85) join transitively before label propagation, which only splits what weaker pairs alone
    # hold together.
    min_cluster_weight: float = 0.5
    strong_weight: float = 0.85
    max_iter: int = 100
    lpa_tol: float = 0.0  # stop when at most this share of labels changed (benchmark: 1e-3)
    louvain_resolution: float = 1.0
    louvain_max_nodes: int = 200_000
    # Super-clusters: bigger than this many wallets or this share of clustered wallets.
    max_cluster_size: int = 5_000
    max_cluster_share: float = 0.2
    rules: tuple[str, ...] | None = None  # None: every rule
    extra: dict = field(default_factory=dict)


def first_hashes_sql(cap: int, t: str = "t", hash: str = "hash") -> str:
    """SQL aggregate: the `cap` earliest hashes of a group (ties by hash), as a list; [] for none.

    `min_by` keeps only the `cap` smallest while it reads, where `list(hash order by t)[1:cap]`
    sorted every hash of the group first: the 1.8 million transfers of 200,000 simulated wallets
    grouped by (src, dst) took 2.0 CPU s instead of 6.4 (`list(hash order by t, hash)`, the same
    1.2 million lists). The hash breaks ties, which `order by t` left to the scan order (632 lists
    came out in another order). Rows with no hash add nothing.
    """
    return f"coalesce(min_by({hash}, ({t}, {hash}), {int(cap)}), [])"
