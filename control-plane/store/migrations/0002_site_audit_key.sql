-- Sitewarden control plane schema, version 2: each site's audit public key
-- (ed25519, 32 bytes), delivered at enrollment; the sync server verifies
-- the site's checkpoint signatures with it.
ALTER TABLE sites ADD COLUMN audit_key BLOB;
