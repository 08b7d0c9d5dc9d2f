with

source as (

    select * from {{ source('ethereum', 'tokens') }}

),

final as (

    select
        address as token_address,
        {{ address_key('address') }} as token_key,
        symbol,
        name,
        decimals,
        total_supply as total_supply_raw,
        block_number,
    from source

)

select * from final
