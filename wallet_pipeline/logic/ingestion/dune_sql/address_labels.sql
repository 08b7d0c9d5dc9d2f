-- Known Ethereum addresses from Dune's label tables, mapped onto the pipeline's label types:
-- centralized exchanges and OFAC-sanctioned addresses.
select
    address,
    'exchange' as label_type,
    cex_name as name,
    'dune:cex.addresses' as source
from cex.addresses
where blockchain = 'ethereum'
union all
select
    address,
    'sanctioned' as label_type,
    description as name,
    'dune:ofac_sanctionned_ethereum.addresses' as source
from ofac_sanctionned_ethereum.addresses
limit {{max_rows}}
