-- One UTC day of Ethereum NFT sales from spellbook's nft.trades.
-- The per-trade key differs across spellbook versions (unique_trade_id, sub_tx_trade_id), so the
-- sale's index within its transaction is numbered here, in a stable order.
select
    block_time,
    block_number,
    tx_hash,
    row_number() over (
        partition by tx_hash order by nft_contract_address, token_id, seller, buyer
    ) as evt_index,
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
from nft.trades
where blockchain = 'ethereum'
    and block_date = date '{{day}}'
order by block_number, tx_hash
limit {{max_rows}}
