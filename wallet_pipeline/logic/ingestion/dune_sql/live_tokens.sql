-- Live analysis: ERC-20 metadata (symbol and decimals) of each token contract of a list.
select
    contract_address as address,
    symbol,
    decimals
from tokens.erc20
where blockchain = 'ethereum'
    and contract_address in ({{addresses}})
order by contract_address
limit {{max_rows}}
