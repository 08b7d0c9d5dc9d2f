{#- One row per address that traded on a DEX or an NFT marketplace (decoded.dex_trades and
    decoded.nft_trades: the source's own trades and those decoded from transfers). -#}
with

dex as (

    select
        taker_key as wallet_key,
        count(*) as dex_trades,
        {{ fixed_point_sum('amount_usd', scale=6) }} / count(amount_usd) as avg_trade_size,
        {{ fixed_point_sum('amount_usd', scale=6) }} as dex_volume_usd,
        min(block_time) as first_trade,
        max(block_time) as last_trade,
    from {{ ref('dex_trades') }}
    group by taker_key

),

nft_sides as (

    select buyer_key as wallet_key, 'buy' as side, nft_contract_address, token_id, amount_eth, block_time
    from {{ ref('nft_trades') }}
    union all
    select seller_key, 'sell', nft_contract_address, token_id, amount_eth, block_time
    from {{ ref('nft_trades') }}

),

nft as (

    select
        wallet_key,
        count(*) filter (where side = 'buy') as nft_buys,
        count(*) filter (where side = 'sell') as nft_sells,
        coalesce(sum(amount_eth), 0) as nft_volume,
        count(distinct (nft_contract_address, token_id)) as unique_nfts,
        count(distinct nft_contract_address) as nft_collections,
        min(block_time) as first_trade,
        max(block_time) as last_trade,
    from nft_sides
    group by wallet_key

),

final as (

    select
        coalesce(dex.wallet_key, nft.wallet_key) as wallet_key,
        coalesce(dex.dex_trades, 0) as dex_trades,
        dex.avg_trade_size,
        dex.dex_volume_usd,
        coalesce(nft.nft_buys, 0) as nft_buys,
        coalesce(nft.nft_sells, 0) as nft_sells,
        coalesce(nft.nft_volume, 0) as nft_volume,
        coalesce(nft.unique_nfts, 0) as unique_nfts,
        coalesce(nft.nft_collections, 0) as nft_collections,
        least(dex.first_trade, nft.first_trade) as first_trade,
        greatest(dex.last_trade, nft.last_trade) as last_trade,
    from dex
    full outer join nft using (wallet_key)

)

select * from final
