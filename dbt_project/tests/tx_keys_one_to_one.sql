{#- Two transaction hashes on one tx_key would join one transaction's transfers to another's in the
    decoders. Every hash the staged tables hold is checked, with an independent second hash as
    int_wallet_keys checks addresses. -#}
{{ config(severity='error') }}

with

hashes as (

    select tx_key, tx_hash from {{ ref('stg_ethereum__transactions') }}
    union all
    select tx_key, tx_hash from {{ ref('stg_ethereum__token_transfers') }}
    union all
    select tx_key, tx_hash from {{ ref('stg_ethereum__dex_trades') }}
    union all
    select tx_key, tx_hash from {{ ref('stg_ethereum__nft_trades') }}

)

select tx_key, min(tx_hash) as one_hash, max(tx_hash) as other_hash
from hashes
where tx_hash is not null
group by tx_key
having min(hash(tx_hash || chr(1))) <> max(hash(tx_hash || chr(1)))
