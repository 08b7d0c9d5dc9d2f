{#- One row per freshly funded address (its first ETH arrived before anything it sent): the burst of
    fresh fundings its funder made around it, and how many of them carried the same amount. A sybil
    farm funds its wallets that way; the persona rules read it (Airdrop Farmer). The 6-hour gap and
    the 5% tolerance are the wallet graph's common-funder settings (logic/graph/config.py). -#}
with

transactions as (

    select from_key, to_key, block_time, block_number, transaction_index, value_eth
    from {{ ref('stg_ethereum__transactions') }}
    -- The ETH of a pure split passes through its contract to the recipients it funds. An anti
    -- join rather than NOT IN, whose NULL-aware join costs more (docs/decoded_activity.md, Cost);
    -- the splits' hashes are never NULL (int_internal_eth_transfers tests it).
    anti join (
        select tx_hash from {{ ref('int_internal_eth_transfers') }} where is_split
    ) as splits using (tx_hash)
    -- ETH sent to the zero address is burnt, not a funding: the zero address is nobody's wallet
    -- (int_wallet_keys leaves it out).
    where value_wei > 0
        and to_key is not null
        and to_address is distinct from {{ zero_address() }}
        and not coalesce(is_failed, false)
    union all
    -- ETH paid inside a contract call funds a wallet too: a Disperse call's signer is the funder
    -- of every wallet it pays (int_internal_eth_transfers).
    select from_key, to_key, block_time, block_number, transaction_index, value_eth
    from {{ ref('int_internal_eth_transfers') }}
    where to_address is distinct from {{ zero_address() }}

),

senders as (select wallet_key, first_sent from {{ ref('int_transactions_aggregated_to_senders') }}),

first_funding as (

    -- The first ETH in chain order; (block, index) makes the choice the same on every run.
    select
        to_key as wallet_key,
        min_by(from_key, {{ chain_order('block_number', 'transaction_index') }}) as funder_key,
        min_by(value_eth, {{ chain_order('block_number', 'transaction_index') }}) as amount,
        min(block_time) as funded_at,
    from transactions
    group by to_key

),

fresh as (

    -- Funded before it acted (or never acted): the funder made the wallet, not paid an existing one.
    select first_funding.*
    from first_funding
    left join senders using (wallet_key)
    where senders.first_sent is null or first_funding.funded_at <= senders.first_sent

),

ordered as (

    select *, lag(funded_at) over (partition by funder_key order by funded_at, wallet_key) as previous_at,
    from fresh

),

bursts as (

    -- A burst: the funder's fresh fundings, each less than 6 hours after the one before it.
    select
        *,
        sum(case when previous_at is null or funded_at - previous_at > interval 6 hour then 1 else 0 end)
            over (partition by funder_key order by funded_at, wallet_key) as burst,
    from ordered

),

cohorts as (

    select
        wallet_key,
        funder_key,
        burst,
        count(*) over (partition by funder_key, burst) as funding_burst_size,
        abs(amount - median(amount) over (partition by funder_key, burst))
            <= 0.05 * median(amount) over (partition by funder_key, burst) as in_cohort,
    from bursts

),

final as (

    select
        wallet_key,
        funding_burst_size,
        -- The burst's wallets funded within 5% of its median amount, for a wallet among them.
        case
            when in_cohort then count(*) filter (where in_cohort) over (partition by funder_key, burst) else 0
        end as funding_cohort_size,
    from cohorts

)

select * from final
