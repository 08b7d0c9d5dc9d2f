{#- One row per liquidity add or removal read from transfers. Add: a pool receives two tokens and
    sends none. Removal: a pool sends two tokens out and receives nothing but its own LP token.
    An address is a pool when its LP token is minted (add) or burnt (removal) in the same
    transaction (a Uniswap V2 pair is its own LP token), or when it is the pool of a swap anywhere
    in the data (dex_trades): pools without LP tokens (Uniswap V3, or a source that leaves the LP
    transfers out) are known by their swaps, or, when the source has logs, by their own liquidity
    events anywhere in the data (Uniswap V2 Mint / Burn, V3 Mint / Burn / Collect). The provider is the transaction's sender. Only
    transfers into or out of those addresses are read. Transactions are joined and grouped on
    their 64-bit tx_key; the hash comes back with the transaction at the end. -#}
with

fungible as (

    -- Keys and amounts only; the addresses of the few rows that are liquidity moves are joined
    -- back at the end.
    select
        tx_key,
        log_index,
        token_key,
        from_key,
        to_key,
        value_raw,
        from_address = {{ zero_address() }} as is_mint,
        to_address = {{ zero_address() }} as is_burn,
    from {{ ref('stg_ethereum__token_transfers') }}
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc20'
    ) as erc20 using (token_key)

),

lp_moves as (

    select
        tx_key,
        token_key as pool_key,
        bool_or(is_mint) as minted,
        bool_or(is_burn) as burnt,
    from fungible
    where is_mint or is_burn
    group by tx_key, token_key

),

event_pools as (

    -- keccak-256 of the event signatures (docs/decoded_activity.md).
    select distinct {{ address_key('address') }} as pool_key, address as pool,
    from {{ source('ethereum', 'logs') }}
    where {{ event_in([
        '0x4c209b5fc8ad50758f13e2e1088ba56a560dff690a1c6fef26394f4c03821c4f',
        '0xdccd412f0b1252819cb1fd330b93224ca42612892bb3f4f789976e6d81936496',
        '0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde',
        '0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c',
        '0x70935338e69775456a85ddef226c395fb668b63fa0115f5f20610b388e6ca9c0',
    ]) }}

),

pools as (

    select distinct {{ address_key('project_contract_address') }} as pool_key, project_contract_address as pool,
    from {{ ref('dex_trades') }}
    where project_contract_address is not null
    union
    select pool_key, pool from event_pools
    union
    select distinct lp_moves.pool_key, tokens.token_address
    from lp_moves
    inner join {{ ref('int_tokens_classified') }} as tokens on tokens.token_key = lp_moves.pool_key

),

swapped as (

    -- A pool's transfers in a transaction where it swapped are no liquidity move: leaving them out
    -- first keeps the grouping below to the few transactions that can be one.
    select {{ tx_key('tx_hash') }} as tx_key, {{ address_key('project_contract_address') }} as pool_key
    from {{ ref('dex_trades') }}

),

legs as (

    -- Both sides first, then one semi join on the pools and one anti join on the swaps: joining
    -- each side apart built the swaps' hash table twice and cost 1.8x the CPU at 1M transactions
    -- (benchmarks/feature_build.py).
    select legs.*
    from (
        select tx_key, to_key as pool_key, token_key, value_raw, log_index, 'in' as leg,
        from fungible
        where not is_mint
        union all
        select tx_key, from_key, token_key, value_raw, log_index, 'out'
        from fungible
        where not is_burn
    ) as legs
    semi join pools using (pool_key)
    anti join swapped using (tx_key, pool_key)

),

per_token as (

    -- Exact sums as HUGEINT (38 digits; amounts over 35 digits leave the sum NULL). Text to
    -- HUGEINT, not DECIMAL(38, 0): that cast cost 67 s per million values, this one 0.14 s.
    select
        tx_key,
        pool_key,
        token_key,
        count(*) filter (where leg = 'in') as n_in,
        count(*) filter (where leg = 'out') as n_out,
        case when max(length(value_raw)) filter (where leg = 'in') <= 35 then
            cast(sum(try_cast(value_raw as {{ wide_int() }})) filter (where leg = 'in' and length(value_raw) <= 35) as {{ text_type() }})
        end as amount_in_raw,
        case when max(length(value_raw)) filter (where leg = 'out') <= 35 then
            cast(sum(try_cast(value_raw as {{ wide_int() }})) filter (where leg = 'out' and length(value_raw) <= 35) as {{ text_type() }})
        end as amount_out_raw,
        min(log_index) as first_log_index,
    from legs
    group by tx_key, pool_key, token_key

),

per_pool as (

    -- Tokens ordered by key, so "a" and "b" are the same on every run.
    select
        tx_key,
        pool_key,
        count(*) filter (where n_in > 0) as tokens_in,
        count(*) filter (where n_out > 0) as tokens_out,
        min(token_key) filter (where n_in > 0) as in_token_key,
        min(token_key) filter (where n_in > 0) as in_a,
        max(token_key) filter (where n_in > 0) as in_b,
        min_by(amount_in_raw, token_key) filter (where n_in > 0) as in_a_raw,
        max_by(amount_in_raw, token_key) filter (where n_in > 0) as in_b_raw,
        min(token_key) filter (where n_out > 0) as out_a,
        max(token_key) filter (where n_out > 0) as out_b,
        min_by(amount_out_raw, token_key) filter (where n_out > 0) as out_a_raw,
        max_by(amount_out_raw, token_key) filter (where n_out > 0) as out_b_raw,
        min(first_log_index) as evt_index,
    from per_token
    group by tx_key, pool_key

),

events as (

    select
        per_pool.*,
        case
            when tokens_in = 2 and tokens_out = 0 then 'add'
            when tokens_out = 2 and (tokens_in = 0 or (tokens_in = 1 and in_token_key = pool_key)) then 'remove'
        end as event_type,
        coalesce(lp_moves.minted, false) as minted,
        coalesce(lp_moves.burnt, false) as burnt,
        known_pools.pool_key is not null as is_known_pool,
    from per_pool
    left join lp_moves using (tx_key, pool_key)
    left join (
        select distinct {{ address_key('project_contract_address') }} as pool_key from {{ ref('dex_trades') }}
        union
        select pool_key from event_pools
    ) as known_pools using (pool_key)

),

final as (

    select
        transactions.tx_hash,
        events.evt_index,
        transactions.block_number,
        transactions.block_time,
        transactions.block_date,
        events.event_type,
        transactions.from_address as provider,
        transactions.from_key as provider_key,
        pools.pool,
        token_a.token_address as token_a_address,
        token_b.token_address as token_b_address,
        case when event_type = 'add' then in_a_raw else out_a_raw end as token_a_amount_raw,
        case when event_type = 'add' then in_b_raw else out_b_raw end as token_b_amount_raw,
        case when event_type = 'add' then minted else burnt end as lp_token_moved,
        transactions.to_address as tx_to,
    from events
    inner join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_key)
    inner join (select distinct pool_key, pool from pools) as pools using (pool_key)
    left join {{ ref('int_tokens_classified') }} as token_a
        on token_a.token_key = case when event_type = 'add' then in_a else out_a end
    left join {{ ref('int_tokens_classified') }} as token_b
        on token_b.token_key = case when event_type = 'add' then in_b else out_b end
    where events.event_type is not null
        and events.pool_key <> transactions.from_key
        and events.pool_key is distinct from transactions.to_key
        and (is_known_pool or (event_type = 'add' and minted) or (event_type = 'remove' and burnt))

)

select * from final
