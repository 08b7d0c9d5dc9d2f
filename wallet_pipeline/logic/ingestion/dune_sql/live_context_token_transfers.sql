-- Live analysis: the first ERC-20 transfer of each token contract of a list. An address whose
-- token emits transfers is a contract (int_contracts_identified); one transfer shows it.
select
    token_address,
    from_address,
    to_address,
    value,
    transaction_hash,
    log_index,
    block_number,
    block_timestamp
from (
    select
        contract_address as token_address,
        "from" as from_address,
        "to" as to_address,
        cast(amount_raw as varchar) as value,
        tx_hash as transaction_hash,
        evt_index as log_index,
        block_number,
        block_time as block_timestamp,
        row_number() over (partition by contract_address order by block_number, evt_index) as nth
    from tokens.transfers
    where blockchain = 'ethereum'
        and token_standard = 'erc20'
        and contract_address in ({{addresses}})
)
where nth = 1
order by block_number, log_index
limit {{max_rows}}
