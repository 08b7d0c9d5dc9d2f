{#- One row per sending address: what it did with the transactions it originated. -#}
with

transactions as (

    select
        from_key as wallet_key,
        to_key,
        block_time,
        value_wei,
        fee_wei,
        method_id,
        is_failed,
        receipt_status,
        nonce,
    from {{ ref('stg_ethereum__transactions') }}

),

gaps as (

    -- One sort of every transaction by wallet and time; the clock-hour grouping below reads it
    -- once, so no copy of the transactions is kept for a second reader, and the gap sums ride
    -- along in that grouping instead of a grouping of every transaction of their own.
    select
        from_key as wallet_key,
        block_epoch,
        block_epoch - lag(block_epoch) over (partition by from_key order by block_epoch) as gap_seconds,
    from (
        select from_key, {{ epoch_seconds('block_time') }} as block_epoch
        from {{ ref('stg_ethereum__transactions') }}
    )

),

totals as (

    select
        wallet_key,
        count(*) as tx_count,
        count(receipt_status) as tx_with_status_count,
        count(*) filter (where is_failed) as failed_tx_count,
        -- A reverted transaction moves no ETH; it only burns its fee. Sums are taken in wei and
        -- turned into ETH once per wallet: the same exact decimal, without a decimal product per
        -- transaction (12% of this grouping's CPU at 1.1M transactions).
        {{ wei_to_eth('coalesce(sum(value_wei) filter (where not coalesce(is_failed, false)), 0)') }} as eth_sent,
        -- 10 ETH (about $25-40k at 2024-25 prices): a transfer few retail wallets ever make.
        count(*) filter (
            where value_wei >= cast('10000000000000000000' as decimal(38, 0)) and not coalesce(is_failed, false)
        ) as large_transfers_sent,
        -- NULL as soon as one fee is unknown: a partial sum would understate the wallet's spend.
        case when count(fee_wei) = count(*) then {{ wei_to_eth('sum(fee_wei)') }} end as total_gas_spent_eth,
        -- Distinct over a 64-bit hash of the 4-byte selector: the same count, without strings.
        count(distinct {{ hash64('method_id') }}) as unique_method_ids,
        count(distinct to_key) filter (where method_id is not null) as unique_contracts_called,
        count(*) filter (where to_key is null) as contracts_deployed,
        min(block_time) as first_sent,
        max(block_time) as last_sent,
        -- A nonce counts the transactions an address sent before it: the lowest one in the data
        -- is the history before the data began (0 for a wallet new in it). Here rather than in
        -- the mart, which grouped every transaction by sender a second time for it.
        min(nonce) as prior_tx_count,
    from transactions
    group by wallet_key

),

per_clock_hour as (

    -- One pass to hourly counts; days, the busiest hour and the hour-of-day profile all come
    -- from this table, which is far smaller than the transactions. Undated transactions (a
    -- transfer list with only sender and receiver) have no hour and no gap.
    select
        wallet_key,
        {{ int_div('block_epoch', 3600) }} as hour_bucket,
        count(*) as n,
        count(gap_seconds) as gap_count,
        sum(cast(gap_seconds as {{ wide_int() }})) as gap_sum,
        sum(cast(gap_seconds as {{ wide_int() }}) * gap_seconds) as gap_square_sum,
    from gaps
    where block_epoch is not null
    group by all

),

hourly as (

    -- Coefficient of variation of the gaps between consecutive transactions: near 0 for a bot
    -- on a timer, about 1 for random (Poisson) timing, above 1 for bursts. It needs two gaps.
    -- Gaps are whole seconds, so sqrt(n * sum(g^2) - sum(g)^2) / sum(g) is computed from exact
    -- integer sums: the same data gives the same value whatever order threads add rows in.
    select
        wallet_key,
        active_days,
        max_tx_per_hour,
        case
            when n >= 2 and s1 > 0 then sqrt(cast(n * s2 - s1 * s1 as double)) / cast(s1 as double)
        end as inter_arrival_cv,
    from (
        select
            wallet_key,
            count(distinct {{ int_div('hour_bucket', 24) }}) as active_days,
            max(n) as max_tx_per_hour,
            sum(gap_count) as n,
            sum(gap_sum) as s1,
            sum(gap_square_sum) as s2,
        from per_clock_hour
        group by wallet_key
    )

),

per_hour_of_day as (

    select wallet_key, hour_bucket % 24 as hour_of_day, sum(n) as n
    from per_clock_hour
    group by all

),

hour_entropy as (

    -- Shannon entropy in bits of the UTC hour-of-day distribution: 0 for a wallet that always
    -- acts in one hour, log2(24) = 4.585 for one spread evenly round the clock.
    select
        wallet_key,
        greatest(0.0, -{{ fixed_point_sum('p * log2(p)', scale=12) }}) as hour_of_day_entropy,
    from (
        select wallet_key, n / sum(n) over (partition by wallet_key) as p
        from per_hour_of_day
    )
    group by wallet_key

),

final as (

    select
        totals.*,
        hourly.active_days,
        hourly.max_tx_per_hour,
        hour_entropy.hour_of_day_entropy,
        hourly.inter_arrival_cv,
    from totals
    left join hourly using (wallet_key)
    left join hour_entropy using (wallet_key)

)

select * from final
