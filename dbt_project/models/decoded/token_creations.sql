{#- One row per token contract whose creation is in the data: the contracts a source lists as
    ERC-20 or ERC-721, in its tokens table, or seen emitting transfers, with who deployed them. The
    creator is the source's own, else the sender of the creating transaction. -#}
with

creations as (select * from {{ ref('stg_ethereum__contract_creations') }}),

classified as (select * from {{ ref('int_tokens_classified') }}),

tokens as (select * from {{ ref('stg_ethereum__tokens') }}),

final as (

    select
        creations.contract_address as token_address,
        creations.contract_key as token_key,
        coalesce(creations.creator_address, transactions.from_address) as creator_address,
        creations.tx_hash,
        creations.block_number,
        coalesce(creations.block_time, transactions.block_time) as block_time,
        case
            when creations.is_erc721 or classified.token_standard = 'erc721' then 'erc721'
            else 'erc20'
        end as token_standard,
        coalesce(tokens.symbol, classified.symbol) as symbol,
        coalesce(tokens.decimals, classified.decimals) as decimals,
    from creations
    left join classified on classified.token_key = creations.contract_key
    left join tokens on tokens.token_key = creations.contract_key
    left join {{ ref('stg_ethereum__transactions') }} as transactions on transactions.tx_hash = creations.tx_hash
    where creations.is_erc20 or creations.is_erc721 or classified.token_key is not null or tokens.token_key is not null

)

select * from final
