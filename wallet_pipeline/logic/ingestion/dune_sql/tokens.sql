-- Ethereum ERC-20 token metadata (symbol and decimals), for amounts in token units.
select
    contract_address as address,
    symbol,
    decimals
from tokens.erc20
where blockchain = 'ethereum'
limit {{max_rows}}
