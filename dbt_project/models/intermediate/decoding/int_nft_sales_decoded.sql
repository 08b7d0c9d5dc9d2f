{#- One row per NFT sale read from transfers. An ERC-721 token moves from a seller to a buyer, and
    either (a) the buyer sent the transaction and it pays ETH to a contract other than the
    collection (a marketplace; paying the collection is a mint), or (b) the buyer pays WETH in the
    same transaction (an accepted offer or bid, sent by the seller or a relayer: Seaport offers,
    Blur bids). When the source has logs, a marketplace's own sale event in the transaction
    (Seaport OrderFulfilled, Blur OrdersMatched or its packed Execution721 events) also admits
    (c) a sale paid in one other ERC-20 token by the buyer (Blur Pool, USDC, ...) and (d) one
    bought for the buyer by the transaction's sender paying ETH (an aggregator's relayer); it
    names the marketplace in `project`. The price is that payment split evenly over the NFTs the
    buyer received in the transaction (a sweep of several NFTs is one payment); the remainder of
    the integer division, under one wei per NFT, is not assigned. -#}
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

marketplace_sales as (

    -- keccak-256 of the event signatures (docs/decoded_activity.md). One marketplace per
    -- transaction: an aggregator filling Seaport and Blur orders in one call is named by the
    -- first in alphabetical order.
    select
        {{ tx_key('transaction_hash') }} as tx_key,
        min(case split_part(topics, ',', 1)
            when '0x9d9af8e38d66c62e2c12f0225249fd9d721c54b83f48d9352c97c6cacdcb6f31' then 'seaport'
            else 'blur'
        end) as project,
    from {{ source('ethereum', 'logs') }}
    where {{ event_in([
        '0x9d9af8e38d66c62e2c12f0225249fd9d721c54b83f48d9352c97c6cacdcb6f31',
        '0x61cbb2a3dee0b6064c2e681aadd61677fb4ef319f0b547508d495626f5a62f64',
        '0x1d5e12b51dee5e4d34434576c3fb99714a85f57b0fd546ada4b0bddd736d12b2',
        '0x0fcf17fac114131b10f37b183c6a60f905911e52802caeeb3e6ea210398b81ab',
        '0x7dc5c0699ac8dd5250cbe368a2fc3b4a2daadb120ad07f6cccea29f83482686e',
    ]) }}
    group by all

),

paid as (

    -- What each address paid, per fungible token, in a transaction that moved an NFT: WETH
    -- always, any other token only where a marketplace event says it is a sale.
    -- HUGEINT, not DECIMAL(38, 0): the cast from text is 500 times faster, and exact.
    select
        transfers.tx_hash,
        transfers.from_key as payer_key,
        transfers.token_key,
        weth.token_key is not null as is_weth,
        cast(sum(try_cast(transfers.value_raw as {{ wide_int() }})) as decimal(38, 0)) as paid_raw,
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    semi join (select distinct tx_hash from nft_transfers) as with_nft using (tx_hash)
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc20'
    ) as fungible using (token_key)
    left join (
        select token_key from {{ ref('int_canonical_tokens') }} where symbol = 'WETH'
    ) as weth using (token_key)
    where weth.token_key is not null or transfers.tx_key in (select tx_key from marketplace_sales)
    group by all

),

weth_paid as (

    select tx_hash, payer_key, paid_raw from paid where is_weth

),

other_paid as (

    -- A payment in one token other than WETH; two such tokens leave the price unknown.
    select
        paid.tx_hash,
        paid.payer_key,
        any_value(paid.paid_raw) as paid_raw,
        any_value(tokens.symbol) as symbol,
    from paid
    left join {{ ref('int_tokens_classified') }} as tokens using (token_key)
    where not paid.is_weth
    group by paid.tx_hash, paid.payer_key
    having count(*) = 1

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
        marketplace_sales.project,
        transactions.value_wei as eth_raw,
        weth_paid.paid_raw as weth_raw,
        other_paid.paid_raw as other_raw,
        case
            when transactions.value_wei > 0
                and nft_transfers.to_key = transactions.from_key
                and transactions.to_key <> nft_transfers.token_key
                then 'ETH'
            when weth_paid.paid_raw > 0 then 'WETH'
            when marketplace_sales.tx_key is null then null
            when other_paid.paid_raw > 0 then coalesce(other_paid.symbol, 'unknown')
            when transactions.value_wei > 0 and transactions.to_key <> nft_transfers.token_key then 'ETH'
        end as currency_symbol,
    from nft_transfers
    inner join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_hash)
    left join weth_paid on weth_paid.tx_hash = nft_transfers.tx_hash and weth_paid.payer_key = nft_transfers.to_key
    left join other_paid on other_paid.tx_hash = nft_transfers.tx_hash and other_paid.payer_key = nft_transfers.to_key
    left join marketplace_sales on marketplace_sales.tx_key = nft_transfers.tx_key
    where not coalesce(transactions.is_failed, false)

),

paid_for as (

    -- The currency is decided once, above; its amount comes from the matching payment.
    select
        candidates.*,
        case currency_symbol when 'ETH' then eth_raw when 'WETH' then weth_raw else other_raw end as paid_raw,
    from candidates

),

final as (

    select
        tx_hash,
        log_index as evt_index,
        block_number,
        block_time,
        cast(block_time as date) as block_date,
        project,
        token_address as nft_contract_address,
        token_id,
        'erc721' as token_standard,
        buyer,
        seller,
        buyer_key,
        seller_key,
        cast({{ amount_div('paid_raw', 'count(*) over (partition by tx_hash, buyer_key, currency_symbol)') }} as decimal(38, 0))
            as amount_raw,
        currency_symbol,
        tx_from,
        tx_to,
    from paid_for
    where currency_symbol is not null

)

select * from final
