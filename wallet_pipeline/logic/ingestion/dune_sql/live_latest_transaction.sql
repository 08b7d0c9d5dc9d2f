-- Live analysis: the newest Ethereum transaction. Features measure ages to the newest block in
-- the data; for one address fetched live, that is the chain's newest block, not its own last one.
-- The date filter only lets Dune skip old partitions.
select
    hash,
    nonce,
    block_hash,
    block_number,
    "index" as transaction_index,
    "from" as from_address,
    "to" as to_address,
    cast(value as varchar) as value,
    gas_limit as gas,
    gas_price,
    bytearray_substring(data, 1, 4) as input,
    block_time as block_timestamp,
    max_fee_per_gas,
    max_priority_fee_per_gas,
    case type
        when 'Legacy' then 0
        when 'AccessList' then 1
        when 'DynamicFee' then 2
        when 'Blob' then 3
        when 'SetCode' then 4
    end as transaction_type,
    case when success then 1 else 0 end as receipt_status,
    gas_used as receipt_gas_used,
    gas_price as receipt_effective_gas_price
from ethereum.transactions
where block_date >= current_date - interval '3' day
order by block_time desc, "index" desc
limit 1
