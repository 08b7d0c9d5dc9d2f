{#- A composite key is unique. Same contract as dbt_utils' test of that name, written here because
    dbt packages come from GitHub, which our machines cannot reach. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
