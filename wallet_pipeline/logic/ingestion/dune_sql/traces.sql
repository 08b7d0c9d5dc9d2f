-- One UTC day of internal ETH transfers in the raw `traces` layout: the value-carrying calls below
-- a transaction's top level, the only traces the pipeline reads (the transaction itself is in
-- `transactions`; delegate and static calls move no ETH). A whole day of traces is tens of
-- millions of rows; these are a few hundred thousand.
select
    tx_hash as transaction_hash,
    tx_index as transaction_index,
    array_join(trace_address, ',') as trace_address,
    block_number,
    block_time as block_timestamp,
    "from" as from_address,
    "to" as to_address,
    cast(value as varchar) as value,
    type as trace_type,
    call_type,
    case when success and tx_success then 1 else 0 end as status,
    error
from ethereum.traces
where block_date = date '{{day}}'
    and type = 'call'
    and call_type = 'call'
    and value > 0
    and cardinality(trace_address) > 0
order by block_number, tx_index, trace_address
limit {{max_rows}}
