with

source as (

    select * from {{ source('ethereum', 'traces') }}

),

final as (

    select
        transaction_hash as tx_hash,
        transaction_index,
        trace_address,
        block_number,
        cast(block_timestamp as timestamp) as block_time,
        from_address as from_address,
        to_address as to_address,
        {{ address_key('from_address') }} as from_key,
        {{ address_key('to_address') }} as to_key,
        cast(value as decimal(38, 0)) as value_wei,
        {{ wei_to_eth('value') }} as value_eth,
        trace_type,
        call_type,
        status,
        status = 0 as is_failed,
    from source

)

select * from final
