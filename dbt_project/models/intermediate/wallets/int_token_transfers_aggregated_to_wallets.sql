{#- One row per address that sent or received tokens. -#}
with

transfers as (

    select
        transfers.from_key,
        transfers.to_key,
        transfers.token_key,
        transfers.block_time,
        transfers.from_address <> {{ zero_address() }} as has_sender,
        transfers.to_address <> {{ zero_address() }} as has_receiver,
        tokens.token_standard = 'erc20' as is_erc20,
        -- Amounts of tokens with unknown decimals cannot be put on one scale; they stay out of
        -- volumes (NULL) but still count as transfers.
        transfers.value_double / pow(10, tokens.decimals) as amount,
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    inner join {{ ref('int_tokens_classified') }} as tokens using (token_key)

),

sides as (

    -- Each transfer once per side through a join with two rows, so the transfers are read once
    -- and streamed: a union of two reads of the CTE above made the database keep a copy of it.
    select
        case when sides.is_out then from_key else to_key end as wallet_key,
        sides.is_out,
        token_key,
        is_erc20,
        amount,
        block_time,
    from transfers
    cross join (select true as is_out union all select false) as sides
    where case when sides.is_out then has_sender else has_receiver end

),

final as (

    select
        wallet_key,
        count(*) filter (where is_erc20 and not is_out) as erc20_transfers_in,
        count(*) filter (where is_erc20 and is_out) as erc20_transfers_out,
        coalesce({{ fixed_point_sum('amount', filter="is_erc20 and not is_out") }}, 0) as erc20_volume_in,
        coalesce({{ fixed_point_sum('amount', filter="is_erc20 and is_out") }}, 0) as erc20_volume_out,
        count(distinct token_key) filter (where is_erc20) as unique_tokens,
        -- Every transfer counts once per side: a total, not the largest count of any one token.
        count(*) as unique_transfers,
        count(*) filter (where not is_erc20) as nft_transfers,
        min(block_time) as first_transfer,
        max(block_time) as last_transfer,
    from sides
    group by wallet_key

)

select * from final
