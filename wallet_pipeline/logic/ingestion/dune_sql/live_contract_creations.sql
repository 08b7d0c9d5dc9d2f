-- Live analysis: the creation of each address of a list that is a contract (the columns of
-- contract_creations.sql).
select
    address,
    "from" as creator_address,
    tx_hash as transaction_hash,
    block_number,
    block_time as block_timestamp
from ethereum.creation_traces
where address in ({{addresses}})
order by block_number, address
limit {{max_rows}}
