{#- One row per token contract seen in transfers, with its standard and decimals. -#}
with

transferred as (

    select
        token_key,
        any_value(token_address) as token_address,
        count(*) as transfer_count,
        min(block_time) as first_transfer,
        max(block_time) as last_transfer,
    from {{ ref('stg_ethereum__token_transfers') }}
    group by token_key

),

tokens as (

    select * from {{ ref('stg_ethereum__tokens') }}

),

contracts as (

    select * from {{ ref('stg_ethereum__contract_creations') }}

),

nft_collections as (

    select distinct {{ address_key('nft_contract_address') }} as token_key
    from {{ ref('stg_ethereum__nft_trades') }}

),

final as (

    select
        transferred.token_key,
        transferred.token_address,
        -- ERC-721 when the contract says so, NFTs of it were sold, or the tokens file lists it
        -- without decimals (ethereum-etl reads decimals() from the contract: NFTs have none).
        -- Otherwise fungible.
        case
            when coalesce(contracts.is_erc721, false)
                or nft_collections.token_key is not null
                or (tokens.token_key is not null and tokens.decimals is null)
                then 'erc721'
            else 'erc20'
        end as token_standard,
        tokens.decimals,
        tokens.symbol,
        transferred.transfer_count,
        transferred.first_transfer,
        transferred.last_transfer,
    from transferred
    left join tokens using (token_key)
    left join contracts on contracts.contract_key = transferred.token_key
    left join nft_collections using (token_key)

)

select * from final
