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

    # direct_transfer: one-way single transfers are weak; repeated or reciprocal ones are strong.
    direct_single_weight: float = 0.1
    direct_repeat_min: int = 3
    direct_repeat_weight: float = 0.6
    direct_reciprocal_weight: float = 1.0

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

    # peel_forward: forwards most of what it just received to a fresh wallet.
    peel_min_ratio: float = 0.85
    peel_window_hours: float = 24.0
    peel_weight: float = 0.8

    # peel_chain: every hop of a chain of peel_forward senders joins the chain's first hop.
    peel_chain_min_hops: int = 4
    peel_chain_weight: float = 1.0

    # wash_cycle: a token (or one NFT) passed around a directed cycle at near-equal amounts.
    wash_min_repeats: int = 3
    wash_amount_tolerance: float = 0.02
    wash_min_len: int = 3
    wash_max_len: int = 8
    wash_max_component: int = 200
    wash_weight: float = 1.0

    # nft_repeat_trade: the same two wallets trade NFTs again and again.
    nft_repeat_min: int = 3

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
    fingerprint_weight: float = 0.5

    # scam_label: direct transfers with an address labelled scam.
    scam_weight: float = 0.7

    # Hubs.
    hub_label_types: tuple[str, ...] = HUB_LABEL_TYPES
    hub_min_degree: int = 300  # distinct counterparties past which an EOA is a hub

    # Clustering.
    method: str = "lpa"  # "lpa" (compiled asynchronous label propagation) or "louvain" (NetworkX)
    seed: int = 0
    min_cluster_weight: float = 0.3
    max_iter: int = 100
    lpa_tol: float = 0.0  # stop when at most this share of labels changed (benchmark: 1e-3)
    louvain_resolution: float = 1.0
    louvain_max_nodes: int = 200_000
    # Super-clusters: bigger than this many wallets or this share of clustered wallets.
    max_cluster_size: int = 5_000
    max_cluster_share: float = 0.2
    rules: tuple[str, ...] | None = None  # None: every rule
    extra: dict = field(default_factory=dict)
