-- Live analysis: every Ethereum NFT sale one address bought or sold, from spellbook's nft.trades.
-- A sale's index is numbered among all the sales of its transaction before filtering, as
-- nft_trades.sql numbers it, so a sale keeps one key whichever query fetched it.
select
    block_time,
    block_number,
    tx_hash,
    sale_index as evt_index,
    project,
    nft_contract_address,
    cast(token_id as varchar) as token_id,
    token_standard,
    buyer,
    seller,
    cast(amount_raw as varchar) as amount_raw,
    currency_symbol,
    amount_usd,
    tx_from,
    tx_to
from (
    select
        *,
        row_number() over (
            partition by tx_hash order by nft_contract_address, token_id, seller, buyer
        ) as sale_index
    from nft.trades
    where blockchain = 'ethereum'
        and tx_hash in (
            select tx_hash
            from nft.trades
            where blockchain = 'ethereum'
                and (buyer = {{address}} or seller = {{address}})
        )
)
where buyer = {{address}}
    or seller = {{address}}
order by block_number, tx_hash
limit {{max_rows}}
