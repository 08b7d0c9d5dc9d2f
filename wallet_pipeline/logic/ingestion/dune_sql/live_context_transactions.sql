-- Live analysis: for each address of a list, its first transaction sent, its first call received
-- (a transaction with call data) and its first ETH received. int_contracts_identified calls an
-- address a contract when it receives calls and never sends, and int_funding_aggregated_to_wallets
-- calls it freshly funded when its first ETH came before anything it sent: these rows answer both
-- for the addresses a wallet or its funder paid, as the whole chain would.
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
where hash in (
    select min_by(hash, block_number * 100000 + "index")
    from ethereum.transactions
    where "from" in ({{addresses}})
    group by "from"
    union all
    select min_by(hash, block_number * 100000 + "index")
    from ethereum.transactions
    where "to" in ({{addresses}})
        and bytearray_length(data) >= 4
    group by "to"
    union all
    select min_by(hash, block_number * 100000 + "index")
    from ethereum.transactions
    where "to" in ({{addresses}})
        and value > 0
        and success
    group by "to"
)
order by block_number, "index"
limit {{max_rows}}
