with

source as (

    select * from {{ source('ethereum', 'token_transfers') }}

),

deduplicated as (

    select * from source
    qualify row_number() over (partition by lower(transaction_hash), log_index order by block_number) = 1

),

final as (

    select
        lower(transaction_hash) as tx_hash,
        log_index,
        block_number,
        cast(block_timestamp as timestamp) as block_time,
        cast(block_timestamp as date) as block_date,
        lower(token_address) as token_address,
        lower(from_address) as from_address,
        lower(to_address) as to_address,
        {{ address_key('lower(token_address)') }} as token_key,
        {{ address_key('lower(from_address)') }} as from_key,
        {{ address_key('lower(to_address)') }} as to_key,
        -- uint256 amounts reach 78 digits: the exact text stays, the double is for aggregates.
        value as value_raw,
        cast(value as double) as value_double,
    from deduplicated

)

select * from final
