-- Row-level security is PostgreSQL only; SQLite is a single-process store
-- where the application filters every query by tenant.
SELECT 1;
