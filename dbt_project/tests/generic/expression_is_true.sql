{#- Every row satisfies a SQL expression (on a model, or on a column: the column is not used). -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}
