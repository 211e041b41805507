-- PostgreSQL announces change-feed rows from a trigger; SQLite has one process and polls,
-- so there is nothing to add. Kept so both backends list the same migrations.
SELECT 1;
