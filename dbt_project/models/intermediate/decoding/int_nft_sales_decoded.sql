{#- One row per NFT sale read from transfers. An ERC-721 token moves from a seller to a buyer, and
    either (a) the buyer sent the transaction and it pays ETH to a contract other than the
    collection (a marketplace; paying the collection is a mint), or (b) the buyer pays WETH in the
    same transaction (an accepted offer or bid, sent by the seller or a relayer: Seaport offers,
    Blur bids). The price is that payment split evenly over the NFTs the buyer received in the
    transaction (a sweep of several NFTs is one payment); the remainder of the integer division,
    under one wei per NFT, is not assigned. -#}
with

nft_transfers as (

    -- A mint comes from the zero address. A seller who buys from itself (a wash sale) still
    -- pays the marketplace: it stays, as in spellbook's nft.trades.
    select transfers.*
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc721'
    ) as erc721 using (token_key)
    -- Transactions the source's own sales table holds are taken from it (decoded.nft_trades).
    anti join (select tx_key from {{ ref('stg_ethereum__nft_trades') }}) as provided using (tx_key)
    where transfers.from_address <> {{ zero_address() }}

),

weth_paid as (

    -- WETH each address sent in a transaction that moved an NFT.
    -- HUGEINT, not DECIMAL(38, 0): the cast from text is 500 times faster, and exact.
    select
        transfers.tx_hash,
        transfers.from_key as payer_key,
        cast(sum(try_cast(transfers.value_raw as hugeint)) as decimal(38, 0)) as paid_raw,
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    semi join (select distinct tx_hash from nft_transfers) as with_nft using (tx_hash)
    semi join (
        select token_key from {{ ref('int_canonical_tokens') }} where symbol = 'WETH'
    ) as weth using (token_key)
    group by all

),

candidates as (

    select
        nft_transfers.tx_hash,
        nft_transfers.log_index,
        nft_transfers.token_address,
        nft_transfers.value_raw as token_id,
        nft_transfers.from_address as seller,
        nft_transfers.from_key as seller_key,
        nft_transfers.to_address as buyer,
        nft_transfers.to_key as buyer_key,
        transactions.block_number,
        transactions.block_time,
        transactions.from_address as tx_from,
        transactions.to_address as tx_to,
        case
            when transactions.value_wei > 0
                and nft_transfers.to_key = transactions.from_key
                and transactions.to_key <> nft_transfers.token_key
                then transactions.value_wei
            else weth_paid.paid_raw
        end as paid_raw,
        case
            when transactions.value_wei > 0
                and nft_transfers.to_key = transactions.from_key
                and transactions.to_key <> nft_transfers.token_key
                then 'ETH'
            when weth_paid.paid_raw > 0 then 'WETH'
        end as currency_symbol,
    from nft_transfers
    inner join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_hash)
    left join weth_paid on weth_paid.tx_hash = nft_transfers.tx_hash and weth_paid.payer_key = nft_transfers.to_key
    where not coalesce(transactions.is_failed, false)

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
        cast(paid_raw // count(*) over (partition by tx_hash, buyer_key, currency_symbol) as decimal(38, 0))
            as amount_raw,
        currency_symbol,
        tx_from,
        tx_to,
    from candidates
    where currency_symbol is not null

)

select * from final
