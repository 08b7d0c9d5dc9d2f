{#- One row per address that paid someone (a successful transaction with ETH, or a token transfer
    out that is not a mint): how many of its payments went to a collecting address (an externally
    owned address paid by very many distinct payers, as an exchange's hot wallet is) and how many
    to the address it paid most. -#}

{#- A collecting address is one whose distinct payers reach this percentile of the distinct payers
    of every externally owned address paid in the same data: a percentile, not a count, so a day's
    extract and a year of files draw the line alike. 0.99 keeps the few hot wallets an exchange
    sweeps its deposit addresses into (the top 1% of payees) and leaves out wallets a household or a
    group pays; 0.95 and 0.995 were measured too (docs/personas.md, issue 19 round 5). -#}
{%- set collector_payer_percentile = 0.99 -%}

with

payments as (

    -- The payments int_forwarding_aggregated_to_wallets counts as outflows, to any address.
    select from_key, to_key
    from {{ ref('stg_ethereum__transactions') }}
    where value_wei > 0
        and to_key is not null
        and to_address <> {{ zero_address() }}
        and not coalesce(is_failed, false)
    union all
    select from_key, to_key
    from {{ ref('stg_ethereum__token_transfers') }}
    where to_address <> {{ zero_address() }}
        and from_address <> {{ zero_address() }}

),

contracts as (select wallet_key from {{ ref('int_contracts_identified') }}),

pairs as (

    select from_key, to_key, count(*) as payments,
    from payments
    group by from_key, to_key

),

payees as (

    -- A contract is paid by everyone who trades on it; a collecting address is a wallet.
    select to_key, count(*) as payers,
    from pairs
    anti join contracts on contracts.wallet_key = pairs.to_key
    group by to_key

),

line as (

    select percentile_disc({{ collector_payer_percentile }}) within group (order by payers) as min_payers from payees

),

collectors as (

    select payees.to_key
    from payees
    cross join line
    where payees.payers >= line.min_payers

),

final as (

    select
        pairs.from_key as wallet_key,
        sum(pairs.payments) as payments_sent,
        coalesce(sum(pairs.payments) filter (where collectors.to_key is not null), 0) as payments_to_collectors,
        max(pairs.payments) as payments_to_top_destination,
    from pairs
    left join collectors using (to_key)
    group by pairs.from_key

)

select * from final
