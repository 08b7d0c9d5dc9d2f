with

source as (

    select * from {{ source('ethereum', 'source_manifest') }}

),

final as (

    select
        table_name,
        source as source_name,
        provided,
        row_count,
        rejected_count,
        loaded_at,
        load_id,
    from source

)

select * from final
