-- Sitewarden control plane schema, version 2 (PostgreSQL body of
-- ../0002_site_audit_key.sql): each site's audit public key.
ALTER TABLE sites ADD COLUMN audit_key BYTEA;
