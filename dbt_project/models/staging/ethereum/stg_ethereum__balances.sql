with

source as (

    select * from {{ source('ethereum', 'balances') }}

),

final as (

    select
        address as address,
        {{ address_key('address') }} as address_key,
        {{ wei_to_eth('eth_balance') }} as eth_balance,
        block_number,
    from source

)

select * from final
