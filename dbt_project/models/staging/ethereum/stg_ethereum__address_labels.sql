with

source as (

    select * from {{ source('ethereum', 'address_labels') }}

),

final as (

    select distinct
        lower(address) as address,
        lower(label_type) as label_type,
        name,
        source,
    from source

)

select * from final
