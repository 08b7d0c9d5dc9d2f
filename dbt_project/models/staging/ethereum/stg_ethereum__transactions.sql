with

source as (

    select * from {{ source('ethereum', 'transactions') }}

),

final as (

    select
        hash as tx_hash,
        {{ tx_key('hash') }} as tx_key,
        block_number,
        transaction_index,
        cast(block_timestamp as timestamp) as block_time,
        cast(block_timestamp as date) as block_date,
        from_address as from_address,
        to_address as to_address,
        {{ address_key('from_address') }} as from_key,
        {{ address_key('to_address') }} as to_key,
        nonce,
        cast(value as decimal(38, 0)) as value_wei,
        {{ wei_to_eth('value') }} as value_eth,
        -- The first 4 bytes of call data select the method; '0x' alone is a plain ETH transfer.
        case when length(input) >= 10 then lower(substr(input, 1, 10)) end as method_id,
        receipt_status,
        receipt_status = 0 as is_failed,
        receipt_gas_used,
        coalesce(receipt_effective_gas_price, gas_price) as effective_gas_price,
        -- Fee = gas used x price paid; unknown (NULL) without receipts, never estimated from the limit.
        -- A 128-bit integer product (DuckDB; DECIMAL(38, 0) on Spark) holds any two 64-bit
        -- factors and costs a third of a DECIMAL(38, 0) one (docs/decoded_activity.md, Cost).
        cast(receipt_gas_used as {{ wide_int() }}) * coalesce(receipt_effective_gas_price, gas_price) as fee_wei,
        {{ wei_to_eth('cast(receipt_gas_used as decimal(38, 0)) * coalesce(receipt_effective_gas_price, gas_price)') }}
            as fee_eth,
        receipt_contract_address as created_contract_address,
        transaction_type,
    from source

)

select * from final
