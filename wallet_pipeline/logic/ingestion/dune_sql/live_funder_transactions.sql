-- Live analysis: every transaction by which one address (a wallet's first funder) sent ETH, in
-- the raw `transactions` layout. int_funding_aggregated_to_wallets groups a funder's fresh
-- fundings into bursts; with these and the first transactions of the addresses paid
-- (live_context_transactions), a wallet's burst is the one the whole chain gives.
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
where "from" = {{address}}
    and value > 0
    and success
    and "to" is not null
order by block_number, "index"
limit {{max_rows}}
