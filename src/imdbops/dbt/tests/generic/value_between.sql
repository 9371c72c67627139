{#
  Fails with every row whose value lies outside [min_value, max_value] (nulls are left to
  not_null). Written here rather than taken from dbt_utils: dbt packages need a download.
#}
{% test value_between(model, column_name, min_value, max_value) %}
select {{ column_name }} as offending_value
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
{% endtest %}
