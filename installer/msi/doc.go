// Package msi builds the site runner's Windows Installer package on Linux:
// wixl (Debian package wixl) compiles sitewarden-runner.wxs, msibuild
// (msitools) adds what wixl cannot express, and osslsigncode signs the
// binaries and the package when a signer is given. ReadTable reads a table
// back with msiinfo, for tests and for inspecting a built package.
//
// What the package does on Windows, and the limits of building it with
// wixl, are in docs/deploy.md.
package msi
