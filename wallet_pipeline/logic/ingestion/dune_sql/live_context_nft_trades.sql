-- Live analysis: the sales of each NFT collection of a list in the transaction of its first
-- sale. A token sold as an NFT is an ERC-721 (int_tokens_classified); one sale shows it. Sales
-- are numbered within their whole transaction, as nft_trades.sql numbers them.
select
    block_time,
    block_number,
    tx_hash,
    sale_index as evt_index,
    project,
    nft_contract_address,
    cast(token_id as varchar) as token_id,
    token_standard,
    buyer,
    seller,
    cast(amount_raw as varchar) as amount_raw,
    currency_symbol,
    amount_usd,
    tx_from,
    tx_to
from (
    select
        *,
        row_number() over (
            partition by tx_hash order by nft_contract_address, token_id, seller, buyer
        ) as sale_index
    from nft.trades
    where blockchain = 'ethereum'
        and tx_hash in (
            select min_by(tx_hash, block_number)
            from nft.trades
            where blockchain = 'ethereum'
                and nft_contract_address in ({{addresses}})
            group by nft_contract_address
        )
)
where nft_contract_address in ({{addresses}})
order by block_number, tx_hash
limit {{max_rows}}
