-- The demo's two platforms share one PostgreSQL server, one database each (the demo creates its
-- tables from exporters/schemas/*.sql on start). Runs once, on an empty data directory.
CREATE DATABASE voice;
CREATE DATABASE chatcenter;
