with

source as (

    select * from {{ source('ethereum', 'token_transfers') }}

),

final as (

    select
        transaction_hash as tx_hash,
        {{ tx_key('transaction_hash') }} as tx_key,
        log_index,
        block_number,
        cast(block_timestamp as timestamp) as block_time,
        cast(block_timestamp as date) as block_date,
        token_address as token_address,
        from_address as from_address,
        to_address as to_address,
        {{ address_key('token_address') }} as token_key,
        {{ address_key('from_address') }} as from_key,
        {{ address_key('to_address') }} as to_key,
        -- uint256 amounts reach 78 digits: the exact text stays, the double is for aggregates.
        value as value_raw,
        cast(value as double) as value_double,
    from source

)

select * from final
