{#- Every non-null value matches a regular expression (addresses, hashes, method ids). -#}
{% test matches_pattern(model, column_name, pattern) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and not {{ full_match(column_name, "'" ~ pattern ~ "'") }}
{% endtest %}
