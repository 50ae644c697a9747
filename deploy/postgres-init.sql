-- The feedback store's database, beside MLflow's (POSTGRES_DB).
CREATE DATABASE feedback;
