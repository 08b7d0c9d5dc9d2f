-- One UTC day of Ethereum DEX swaps from spellbook's dex.trades.
select
    block_time,
    block_number,
    tx_hash,
    evt_index,
    project,
    taker,
    token_bought_address,
    token_sold_address,
    cast(token_bought_amount_raw as varchar) as token_bought_amount_raw,
    cast(token_sold_amount_raw as varchar) as token_sold_amount_raw,
    amount_usd,
    tx_from,
    tx_to,
    project_contract_address
from dex.trades
where blockchain = 'ethereum'
    and block_date = date '{{day}}'
order by block_number, evt_index
limit {{max_rows}}
