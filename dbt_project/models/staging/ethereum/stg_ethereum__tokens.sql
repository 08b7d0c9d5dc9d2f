with

source as (

    select * from {{ source('ethereum', 'tokens') }}

),

deduplicated as (

    select * from source
    qualify row_number() over (partition by lower(address) order by block_number nulls last) = 1

),

final as (

    select
        lower(address) as token_address,
        {{ address_key('lower(address)') }} as token_key,
        symbol,
        name,
        decimals,
        total_supply as total_supply_raw,
        block_number,
    from deduplicated

)

select * from final
