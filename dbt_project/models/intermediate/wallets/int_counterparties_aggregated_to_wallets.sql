{#- One row per address: how many distinct addresses it exchanged ETH or tokens with. -#}
with

pairs as (

    select from_key as wallet_key, to_key as counterparty_key from {{ ref('stg_ethereum__transactions') }}
    where to_key is not null
    union all
    select to_key, from_key from {{ ref('stg_ethereum__transactions') }}
    where to_key is not null
    union all
    select from_key, to_key from {{ ref('stg_ethereum__token_transfers') }}
    where from_address <> {{ zero_address() }} and to_address <> {{ zero_address() }}
    union all
    select to_key, from_key from {{ ref('stg_ethereum__token_transfers') }}
    where from_address <> {{ zero_address() }} and to_address <> {{ zero_address() }}

),

final as (

    select wallet_key, count(*) as unique_counterparties
    from (select distinct wallet_key, counterparty_key from pairs where wallet_key <> counterparty_key)
    group by wallet_key

)

select * from final
