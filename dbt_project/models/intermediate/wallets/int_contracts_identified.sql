{#- One row per address known or inferred to be a contract, with the first rule that says so. -#}
with

created as (

    select
        contract_key as wallet_key,
        case when has_bytecode then 'bytecode' else 'creation' end as rule,
        block_time as created_at,
    from {{ ref('stg_ethereum__contract_creations') }}

),

emitters as (

    -- Only contracts emit events, so a token address is a contract whatever else is known.
    select token_key as wallet_key, 'emits_token_events' as rule, cast(null as timestamp) as created_at
    from {{ ref('int_tokens_classified') }}

),

called_never_sending as (

    select receivers.wallet_key, 'receives_calls_never_sends' as rule, cast(null as timestamp) as created_at
    from {{ ref('int_transactions_aggregated_to_receivers') }} as receivers
    anti join {{ ref('int_transactions_aggregated_to_senders') }} as senders using (wallet_key)
    where receivers.calls_received > 0

),

ranked as (

    select wallet_key, rule, created_at, 1 as priority from created
    union all
    select wallet_key, rule, created_at, 2 from emitters
    union all
    select wallet_key, rule, created_at, 3 from called_never_sending

),

final as (

    select wallet_key, min_by(rule, priority) as contract_rule, min(created_at) as created_at
    from ranked
    group by wallet_key

)

select * from final
