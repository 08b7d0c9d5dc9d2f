{#- One row per sender whose own transactions moved ERC-20 tokens out of a wallet that never sent a
    transaction in the data: the transfers it made in other wallets' names. An address-poisoning
    operator forges transfers "from" look-alike addresses that never transact (transferFrom on a
    token that does not check allowances); the look-alikes themselves are the other side of the same
    rows (the persona rules' Spoofed Sender). Left out, because moving their tokens is ordinary:
    the sender itself, the contract it called (a router or vault paying out), the zero address
    (mints), contracts (a pool paying a swap), any wallet that sent a transaction in the data
    (an approval makes transferFrom legitimate, and an approval is a transaction), and any wallet
    that received ERC-20 tokens or a transaction in the data: an export without a `contracts`
    file, or one whose pools were created before its window, does not list the pools as
    contracts, and a pool receives the trade's other leg (the 300-wallet live-test world: every
    DEX trader counted once per swap without this test; look-alikes receive nothing). A relayer or a
    solver that settles orders signed off-chain by wallets silent in the data counts too: on a real
    chain that is also an operator, though not a poisoner. -#}
with

erc20 as (

    select token_key from {{ ref('int_tokens_classified') }} where token_standard = 'erc20'

),

senders as (select wallet_key from {{ ref('int_transactions_aggregated_to_senders') }}),

contracts as (select wallet_key from {{ ref('int_contracts_identified') }}),

receivers as (

    select wallet_key from {{ ref('int_token_transfers_aggregated_to_wallets') }} where erc20_transfers_in > 0
    union
    select wallet_key from {{ ref('int_transactions_aggregated_to_receivers') }}

),

silent_debits as (

    -- The anti joins leave few rows (debits of wallets that never sent and are not contracts), so
    -- only those meet the transactions.
    select transfers.tx_key, transfers.from_key,
    from {{ ref('stg_ethereum__token_transfers') }} as transfers
    inner join erc20 using (token_key)
    anti join senders on senders.wallet_key = transfers.from_key
    anti join contracts on contracts.wallet_key = transfers.from_key
    anti join receivers on receivers.wallet_key = transfers.from_key
    where transfers.from_address <> {{ zero_address() }}

),

final as (

    select
        transactions.from_key as wallet_key,
        count(*) as spoofed_transfers_sent,
    from silent_debits
    inner join {{ ref('stg_ethereum__transactions') }} as transactions
        on transactions.tx_key = silent_debits.tx_key
    -- The debited wallet never sent, so it is not the sender; the contract called is the one test left.
    where transactions.to_key is null or transactions.to_key <> silent_debits.from_key
    group by transactions.from_key

)

select * from final
