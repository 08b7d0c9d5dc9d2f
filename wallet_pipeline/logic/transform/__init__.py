"""What the dbt stage needs besides dbt: facts about the tables it builds."""
