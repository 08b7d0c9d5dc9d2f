{#- One row per (transaction, address) that moved at least two different fungible tokens in the
    transaction, or whose own token was minted or burnt in it: the raw material of swaps and
    liquidity moves (see docs/decoded_activity.md). Amounts are per token, in and out; transfers
    from or to the zero address are mints and burns, credited to the token contract itself (an LP
    token minted in a transaction marks its pool's liquidity add, a burn its removal). -#}
with

fungible as (

    select
        transfers.tx_hash,
        transfers.log_index,
        transfers.token_key,
        transfers.token_address,
        transfers.from_key,
        transfers.from_address,
        transfers.to_key,
        transfers.to_address,
        transfers.value_raw,
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    semi join (
        select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc20'
    ) as erc20 using (token_key)

),

multi_transfer as (

    -- A swap or a liquidity move takes at least two transfers, and most transactions move one
    -- token once: one grouping by transaction keeps the rest of the work to the few that can.
    select tx_hash from fungible group by tx_hash having count(*) >= 2

),

transfers as (

    select fungible.*, from_address = {{ zero_address() }} as is_mint, to_address = {{ zero_address() }} as is_burn,
    from fungible
    semi join multi_transfer using (tx_hash)

),

legs as (

    select tx_hash, to_key as address_key, to_address as address, token_key, token_address, value_raw, log_index,
        'in' as leg,
    from transfers
    where not is_mint and not is_burn
    union all
    select tx_hash, from_key, from_address, token_key, token_address, value_raw, log_index, 'out'
    from transfers
    where not is_mint and not is_burn
    union all
    select tx_hash, token_key, token_address, token_key, token_address, value_raw, log_index,
        case when is_mint then 'mint' else 'burn' end,
    from transfers
    where is_mint or is_burn

),

per_token as (

    -- Exact sums of uint256 text: DECIMAL(38, 0) holds 38 digits, so amounts of up to 35 digits
    -- can be summed a thousand times over; a larger amount leaves the sum unknown (NULL).
    select
        tx_hash,
        address_key,
        token_key,
        any_value(address) as address,
        any_value(token_address) as token_address,
        count(*) filter (where leg = 'in') as n_in,
        count(*) filter (where leg = 'out') as n_out,
        case when max(length(value_raw)) filter (where leg = 'in') <= 35 then
            cast(sum(try_cast(value_raw as decimal(38, 0))) filter (where leg = 'in' and length(value_raw) <= 35)
                as varchar)
        end as amount_in_raw,
        case when max(length(value_raw)) filter (where leg = 'out') <= 35 then
            cast(sum(try_cast(value_raw as decimal(38, 0))) filter (where leg = 'out' and length(value_raw) <= 35)
                as varchar)
        end as amount_out_raw,
        bool_or(leg = 'mint') as minted,
        bool_or(leg = 'burn') as burnt,
        min(log_index) as first_log_index,
    from legs
    group by tx_hash, address_key, token_key

),

per_address as (

    -- Tokens in and out are ordered by key, so "first" and "second" are the same on every run.
    select
        tx_hash,
        address_key,
        any_value(address) as address,
        count(*) filter (where n_in > 0) as tokens_in,
        count(*) filter (where n_out > 0) as tokens_out,
        arg_min(token_key, token_key) filter (where n_in > 0) as in_token_key,
        arg_min(token_address, token_key) filter (where n_in > 0) as in_token_address,
        arg_min(amount_in_raw, token_key) filter (where n_in > 0) as in_amount_raw,
        arg_max(token_address, token_key) filter (where n_in > 0) as in2_token_address,
        arg_max(amount_in_raw, token_key) filter (where n_in > 0) as in2_amount_raw,
        arg_min(token_key, token_key) filter (where n_out > 0) as out_token_key,
        arg_min(token_address, token_key) filter (where n_out > 0) as out_token_address,
        arg_min(amount_out_raw, token_key) filter (where n_out > 0) as out_amount_raw,
        arg_max(token_address, token_key) filter (where n_out > 0) as out2_token_address,
        arg_max(amount_out_raw, token_key) filter (where n_out > 0) as out2_amount_raw,
        -- Its own token (an LP token: the pool) minted or burnt in the transaction.
        bool_or(minted and token_key = address_key) as own_token_minted,
        bool_or(burnt and token_key = address_key) as own_token_burnt,
        min(first_log_index) as first_log_index,
    from per_token
    group by tx_hash, address_key
    having count(*) >= 2 or bool_or((minted or burnt) and token_key = address_key)

),

final as (

    select
        per_address.*,
        transactions.block_number,
        transactions.block_time,
        transactions.from_address as tx_from,
        transactions.to_address as tx_to,
        transactions.from_key as tx_from_key,
        transactions.to_key as tx_to_key,
    from per_address
    left join {{ ref('stg_ethereum__transactions') }} as transactions using (tx_hash)

)

select * from final
