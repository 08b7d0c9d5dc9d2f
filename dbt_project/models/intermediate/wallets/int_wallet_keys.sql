{#- Every address that takes part in the data, with its 64-bit key. -#}
with

participants as (

    select from_key as wallet_key, from_address as address from {{ ref('stg_ethereum__transactions') }}
    union all
    select to_key, to_address from {{ ref('stg_ethereum__transactions') }} where to_key is not null
    union all
    select from_key, from_address from {{ ref('stg_ethereum__token_transfers') }}
    union all
    select to_key, to_address from {{ ref('stg_ethereum__token_transfers') }}
    union all
    select token_key, token_address from {{ ref('stg_ethereum__token_transfers') }}
    union all
    select taker_key, taker from {{ ref('dex_trades') }}
    union all
    select buyer_key, buyer from {{ ref('nft_trades') }}
    union all
    select seller_key, seller from {{ ref('nft_trades') }}
    union all
    select contract_key, contract_address from {{ ref('stg_ethereum__contract_creations') }}
    union all
    -- A wallet paid only inside a contract call (a Disperse-funded one) takes part too.
    select to_key, to_address from {{ ref('int_internal_eth_transfers') }}

),

final as (

    select
        wallet_key,
        any_value(address) as address,
        -- Two addresses on one key would show as two values of an independent second hash;
        -- comparing integers costs half of comparing the address strings (measured).
        min({{ hash64('address || chr(1)') }}) as check_hash_min,
        max({{ hash64('address || chr(1)') }}) as check_hash_max,
    from participants
    where address <> {{ zero_address() }}
    group by wallet_key

)

select * from final
