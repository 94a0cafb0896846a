// Package sign signs Windows binaries and MSI packages with Authenticode
// through osslsigncode (Debian package osslsigncode), on Linux, and
// verifies signatures. A Signer comes from the environment (FromEnv):
// SITEWARDEN_SIGN_CERT and SITEWARDEN_SIGN_KEY (PEM files), optionally
// SITEWARDEN_SIGN_PASS_FILE (the key's passphrase) and
// SITEWARDEN_SIGN_TIMESTAMP_URL (an RFC 3161 time-stamping authority). With
// neither certificate nor key set there is no Signer and builds are
// unsigned, which is fine for testing.
package sign
