with

source as (

    select * from {{ source('ethereum', 'contract_creations') }}

),

deduplicated as (

    select * from source
    qualify row_number() over (partition by lower(address) order by block_number nulls last) = 1

),

final as (

    select
        lower(address) as contract_address,
        {{ address_key('lower(address)') }} as contract_key,
        lower(creator_address) as creator_address,
        lower(transaction_hash) as tx_hash,
        block_number,
        cast(block_timestamp as timestamp) as block_time,
        bytecode is not null and bytecode not in ('', '0x') as has_bytecode,
        function_sighashes,
        coalesce(is_erc20, false) as is_erc20,
        coalesce(is_erc721, false) as is_erc721,
    from deduplicated

)

select * from final
