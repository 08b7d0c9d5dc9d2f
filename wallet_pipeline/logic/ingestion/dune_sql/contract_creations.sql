-- One UTC day of Ethereum contract creations.
select
    address,
    "from" as creator_address,
    tx_hash as transaction_hash,
    block_number,
    block_time as block_timestamp
from ethereum.creation_traces
where block_date = date '{{day}}'
order by block_number, address
limit {{max_rows}}
