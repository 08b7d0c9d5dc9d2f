-- Live analysis: every ERC-20 transfer from or to one address, in the raw `token_transfers`
-- layout (as token_transfers.sql).
select
    contract_address as token_address,
    "from" as from_address,
    "to" as to_address,
    cast(amount_raw as varchar) as value,
    tx_hash as transaction_hash,
    evt_index as log_index,
    block_number,
    block_time as block_timestamp
from tokens.transfers
where blockchain = 'ethereum'
    and token_standard = 'erc20'
    and ("from" = {{address}} or "to" = {{address}})
order by block_number, evt_index
limit {{max_rows}}
