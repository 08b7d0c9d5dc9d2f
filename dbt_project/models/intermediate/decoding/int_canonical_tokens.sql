{#- The tokens prices are read from: WETH and the USD stablecoins USDC, USDT and DAI. A symbol is
    anyone's to claim (fake "USDT" tokens are a phishing staple), so one token per symbol is kept:
    the mainnet contract when the data has it, else the one with the most transfers; decimals must
    match the real token's (18 for WETH and DAI, 6 for USDC and USDT). -#}
with

candidates as (

    select
        token_key,
        token_address,
        upper(symbol) as symbol,
        decimals,
        transfer_count,
        token_address in (
            '0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2',
            '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48',
            '0xdac17f958d2ee523a2206206994597c13d831ec7',
            '0x6b175474e89094c44da98b954eedeac495271d0f'
        ) as is_mainnet,
    from {{ ref('int_tokens_classified') }}
    where token_standard = 'erc20'
        and (
            (upper(symbol) in ('USDC', 'USDT') and decimals = 6)
            or (upper(symbol) in ('WETH', 'DAI') and decimals = 18)
        )

),

final as (

    select
        token_key,
        token_address,
        symbol,
        decimals,
        symbol <> 'WETH' as is_usd_stablecoin,
    from candidates
    qualify row_number() over (
        partition by symbol order by is_mainnet desc, transfer_count desc, token_address
    ) = 1

)

select * from final
