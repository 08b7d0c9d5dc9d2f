{#- One row per address in the data (the zero address excepted), contracts flagged. -#}
with

wallets as (

    select wallet_key, address from {{ ref('int_wallet_keys') }}

),

senders as (select * from {{ ref('int_transactions_aggregated_to_senders') }}),

receivers as (select * from {{ ref('int_transactions_aggregated_to_receivers') }}),

token_activity as (select * from {{ ref('int_token_transfers_aggregated_to_wallets') }}),

counterparties as (select * from {{ ref('int_counterparties_aggregated_to_wallets') }}),

trades as (select * from {{ ref('int_trades_aggregated_to_wallets') }}),

forwarding as (select * from {{ ref('int_forwarding_aggregated_to_wallets') }}),

funding as (select * from {{ ref('int_funding_aggregated_to_wallets') }}),

destinations as (select * from {{ ref('int_destinations_aggregated_to_wallets') }}),

spoofing as (select * from {{ ref('int_spoofed_transfers_aggregated_to_senders') }}),

contracts as (select * from {{ ref('int_contracts_identified') }}),

-- A token contract acts whenever its Transfer events are emitted, even if no one calls it directly.
emitted as (
    select token_key as wallet_key, first_transfer as first_emitted, last_transfer as last_emitted,
    from {{ ref('int_tokens_classified') }}
),

balances as (select * from {{ ref('stg_ethereum__balances') }}),

coverage as (

    -- Which tables the source provided: a feature built on a missing table is unknown (NULL).
    select
        coalesce(bool_or(provided) filter (where table_name = 'transactions'), false) as has_transactions,
        coalesce(bool_or(provided) filter (where table_name = 'token_transfers'), false) as has_token_transfers,
        -- Trades are known when the source has a trade table, or when they can be decoded from
        -- transactions and token transfers (decoded.dex_trades, decoded.nft_trades).
        coalesce(bool_or(provided) filter (where table_name = 'dex_trades'), false)
            or (
                coalesce(bool_or(provided) filter (where table_name = 'transactions'), false)
                and coalesce(bool_or(provided) filter (where table_name = 'token_transfers'), false)
            ) as has_dex_trades,
        coalesce(bool_or(provided) filter (where table_name = 'nft_trades'), false)
            or (
                coalesce(bool_or(provided) filter (where table_name = 'transactions'), false)
                and coalesce(bool_or(provided) filter (where table_name = 'token_transfers'), false)
            ) as has_nft_trades,
        coalesce(bool_or(provided) filter (where table_name = 'balances'), false) as has_balances,
    from {{ ref('stg_ethereum__source_manifest') }}

),

horizon as (

    -- Ages are measured to the newest block in the data, not to the clock, so features of the
    -- same data are the same whenever they are built.
    -- Every transaction has a sender, so the senders' last times hold the newest block.
    select max(last_sent) as as_of from senders

),

joined as (

    select
        wallets.address,
        contracts.wallet_key is not null as is_contract,
        contracts.contract_rule,
        -- A contract deployed and never used still appears: at its creation. An address with no
        -- dated activity (a contract listed by the source but created before the window, or a
        -- party only to undated transfers) has NULL first and last seen: unknown, not made up.
        least(
            senders.first_sent, receivers.first_received, token_activity.first_transfer, trades.first_trade,
            contracts.created_at, emitted.first_emitted
        ) as first_seen,
        greatest(
            senders.last_sent, receivers.last_received, token_activity.last_transfer, trades.last_trade,
            contracts.created_at, emitted.last_emitted
        ) as last_seen,
        senders.last_sent as last_active,
        coalesce(senders.tx_count, 0) as tx_count,
        coalesce(receivers.received_tx_count, 0) as received_tx_count,
        coalesce(senders.active_days, 0) as active_days,
        case when senders.tx_count is null then 0 else senders.total_gas_spent_eth end as total_gas_spent_eth,
        coalesce(senders.eth_sent, 0) as eth_sent,
        senders.large_transfers_sent,
        coalesce(receivers.eth_received, 0) as eth_received,
        coalesce(senders.unique_contracts_called, 0) as unique_contracts_called,
        coalesce(senders.unique_method_ids, 0) as unique_method_ids,
        coalesce(senders.contracts_deployed, 0) as contracts_deployed,
        coalesce(counterparties.unique_counterparties, 0) as unique_counterparties,
        senders.failed_tx_count,
        senders.tx_with_status_count,
        coalesce(senders.max_tx_per_hour, 0) as max_tx_per_hour,
        senders.hour_of_day_entropy,
        senders.inter_arrival_cv,
        token_activity.erc20_transfers_in,
        token_activity.erc20_transfers_out,
        token_activity.erc20_volume_in,
        token_activity.erc20_volume_out,
        token_activity.unique_tokens,
        token_activity.unique_transfers,
        token_activity.nft_transfers,
        trades.dex_trades,
        trades.avg_trade_size,
        trades.dex_volume_usd,
        trades.nft_buys,
        trades.nft_sells,
        trades.nft_volume,
        trades.unique_nfts,
        trades.nft_collections,
        forwarding.inflow_count,
        forwarding.forwarded_inflow_count_6h,
        funding.funding_burst_size,
        funding.funding_cohort_size,
        destinations.payments_sent,
        destinations.payments_to_collectors,
        destinations.payments_to_top_destination,
        balances.eth_balance,
        senders.prior_tx_count,
        spoofing.spoofed_transfers_sent,
        coverage.*,
        horizon.as_of,
    from wallets
    cross join coverage
    cross join horizon
    left join senders using (wallet_key)
    left join receivers using (wallet_key)
    left join token_activity using (wallet_key)
    left join counterparties using (wallet_key)
    left join trades using (wallet_key)
    left join forwarding using (wallet_key)
    left join funding using (wallet_key)
    left join destinations using (wallet_key)
    left join spoofing using (wallet_key)
    left join contracts using (wallet_key)
    left join emitted using (wallet_key)
    left join balances on balances.address_key = wallets.wallet_key

),

final as (

    select
        address,
        is_contract,
        contract_rule,
        first_seen,
        last_seen,
        last_active,
        {{ days_between('first_seen', 'as_of') }} as wallet_age_days,
        {{ days_between('last_active', 'as_of') }} as days_since_last_active,
        tx_count,
        received_tx_count,
        active_days,
        case when active_days > 0 then tx_count / active_days end as avg_tx_per_day,
        total_gas_spent_eth,
        eth_sent,
        eth_received,
        eth_received - eth_sent - total_gas_spent_eth as native_balance_delta,
        case when has_balances then coalesce(eth_balance, 0) end as eth_balance,
        unique_counterparties,
        unique_contracts_called,
        unique_method_ids,
        contracts_deployed,
        case when has_token_transfers then coalesce(erc20_transfers_in, 0) end as erc20_transfers_in,
        case when has_token_transfers then coalesce(erc20_transfers_out, 0) end as erc20_transfers_out,
        case when has_token_transfers then coalesce(erc20_volume_in, 0) end as erc20_volume_in,
        case when has_token_transfers then coalesce(erc20_volume_out, 0) end as erc20_volume_out,
        case when has_token_transfers then coalesce(unique_tokens, 0) end as unique_tokens,
        case when has_token_transfers then coalesce(unique_transfers, 0) end as unique_transfers,
        case when has_token_transfers then coalesce(nft_transfers, 0) end as nft_transfers,
        case when has_nft_trades then coalesce(nft_buys, 0) end as nft_buys,
        case when has_nft_trades then coalesce(nft_sells, 0) end as nft_sells,
        case when has_nft_trades then coalesce(nft_volume, 0) end as nft_volume,
        case when has_nft_trades then coalesce(unique_nfts, 0) end as unique_nfts,
        case when has_nft_trades then coalesce(nft_collections, 0) end as nft_collections,
        -- Above 1 for sellers: the buyer sends the sale, so it is not among the seller's transactions.
        case
            when has_nft_trades and tx_count > 0 then (coalesce(nft_buys, 0) + coalesce(nft_sells, 0)) / tx_count
        end as nft_trade_share,
        case when has_dex_trades then coalesce(dex_trades, 0) end as dex_trades,
        case when has_dex_trades and tx_count > 0 then coalesce(dex_trades, 0) / tx_count end as dex_trade_share,
        case when tx_count > 0 then coalesce(large_transfers_sent, 0) / tx_count end as large_transfer_share,
        avg_trade_size,
        -- Unpriced trades (no USD in the source) leave the volume unknown rather than zero.
        case when has_dex_trades then (case when coalesce(dex_trades, 0) = 0 then 0 else dex_volume_usd end) end
            as dex_volume_usd,
        case when tx_with_status_count > 0 then failed_tx_count / tx_with_status_count end as failed_tx_ratio,
        max_tx_per_hour,
        hour_of_day_entropy,
        inter_arrival_cv,
        -- Without token transfers only ETH inflows count; without transactions neither is known.
        case when has_transactions and inflow_count > 0 then forwarded_inflow_count_6h / inflow_count end
            as forwarded_to_eoa_6h_share,
        case when has_transactions then coalesce(inflow_count - forwarded_inflow_count_6h, 0) end
            as unforwarded_inflows_6h,
        -- NULL unless the wallet's first ETH came before anything it sent (see int_funding_aggregated_to_wallets).
        funding_burst_size,
        funding_cohort_size,
        -- Where the money goes (int_destinations_aggregated_to_wallets): a deposit address pays
        -- its exchange's hot wallet and nothing else; a stopped wallet that forwarded its one
        -- withdrawal pays a friend or another wallet of its own.
        case when has_transactions and payments_sent > 0 then payments_to_collectors / payments_sent end
            as collector_payment_share,
        case when has_transactions and payments_sent > 0 then payments_to_top_destination / payments_sent end
            as top_destination_share,
        -- NULL when it sent nothing in the data, or the source gives no nonce.
        prior_tx_count,
        -- Both tables are needed to tell whose transaction moved a token (int_spoofed_transfers_aggregated_to_senders).
        case when has_transactions and has_token_transfers then coalesce(spoofed_transfers_sent, 0) end
            as spoofed_transfers_sent,
        as_of,
    from joined

)

select * from final
