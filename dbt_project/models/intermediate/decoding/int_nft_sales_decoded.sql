{#- One row per NFT sale read from transfers: an ERC-721 token moves from a seller to the
    transaction's sender in a transaction that pays ETH to a contract other than the collection
    (a marketplace; paying the collection is a mint). The price is the ETH the transaction paid,
    split evenly over the NFTs it moved to its sender (a sweep of several NFTs has one payment);
    the remainder of the integer division (under one wei per NFT) is not assigned. -#}
with

nft_transfers as (

    select transfers.*
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc721'
    ) as erc721 using (token_key)
    -- A mint comes from the zero address. A seller who buys from itself (a wash sale) still
    -- pays the marketplace: it stays, as in spellbook's nft.trades.
    where transfers.from_address <> {{ zero_address() }}

),

paid as (

    select
        nft_transfers.tx_hash,
        nft_transfers.log_index,
        nft_transfers.token_address,
        nft_transfers.token_key,
        nft_transfers.value_raw as token_id,
        nft_transfers.from_address as seller,
        nft_transfers.from_key as seller_key,
        transactions.from_address as buyer,
        transactions.from_key as buyer_key,
        transactions.block_number,
        transactions.block_time,
        transactions.to_address as tx_to,
        transactions.value_wei,
    from nft_transfers
    inner join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_hash)
    where transactions.value_wei > 0
        and not coalesce(transactions.is_failed, false)
        and nft_transfers.to_key = transactions.from_key
        and transactions.to_key <> nft_transfers.token_key

),

final as (

    select
        tx_hash,
        log_index as evt_index,
        block_number,
        block_time,
        cast(block_time as date) as block_date,
        token_address as nft_contract_address,
        token_id,
        'erc721' as token_standard,
        buyer,
        seller,
        buyer_key,
        seller_key,
        cast(value_wei // count(*) over (partition by tx_hash) as decimal(38, 0)) as amount_raw,
        'ETH' as currency_symbol,
        buyer as tx_from,
        tx_to,
    from paid

)

select * from final
