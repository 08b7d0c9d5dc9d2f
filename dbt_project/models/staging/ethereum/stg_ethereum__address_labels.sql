with

source as (

    select * from {{ source('ethereum', 'address_labels') }}

),

final as (

    select distinct
        address as address,
        label_type as label_type,
        name,
        source,
    from source

)

select * from final
