with

source as (

    select * from {{ source('ethereum', 'contract_creations') }}

),

final as (

    select
        address as contract_address,
        {{ address_key('address') }} as contract_key,
        creator_address as creator_address,
        transaction_hash as tx_hash,
        block_number,
        cast(block_timestamp as timestamp) as block_time,
        bytecode is not null and bytecode not in ('', '0x') as has_bytecode,
        function_sighashes,
        coalesce(is_erc20, false) as is_erc20,
        coalesce(is_erc721, false) as is_erc721,
    from source

)

select * from final
