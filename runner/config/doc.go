// Package config is the site runner's configuration: Config, its embedded
// defaults per OS (DefaultConfig; /etc/sitewarden and /var/lib/sitewarden
// on Linux, %ProgramData%\Sitewarden on Windows), strict YAML loading
// (Load: an unknown key is an error naming it and its line) and Validate.
// Command-line flags override the file.
package config
