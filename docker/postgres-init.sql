-- Dagster's instance storage lives beside the sink database, owned by the same role.
CREATE DATABASE dagster OWNER CURRENT_USER;
