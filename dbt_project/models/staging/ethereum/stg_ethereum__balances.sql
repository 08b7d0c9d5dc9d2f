with

source as (

    select * from {{ source('ethereum', 'balances') }}

),

deduplicated as (

    -- Two snapshots of one address: the later block holds.
    select * from source
    qualify row_number() over (partition by lower(address) order by block_number desc nulls last) = 1

),

final as (

    select
        lower(address) as address,
        {{ address_key('lower(address)') }} as address_key,
        {{ wei_to_eth('eth_balance') }} as eth_balance,
        block_number,
    from deduplicated

)

select * from final
