// Package msi builds the site runner's Windows Installer package on Linux:
// each staged binary gets a VERSIONINFO resource and a manifest (winres,
// on a private copy: see versioninfo.go), wixl (Debian package wixl)
// compiles sitewarden-runner.wxs, msibuild (msitools) adds what wixl
// cannot express, and osslsigncode signs the binaries and the package when
// a signer is given. ReadTable reads a table back with msiinfo, for tests
// and for inspecting a built package.
//
// What the package does on Windows, why the resources are added to the
// built binaries rather than compiled in, and the limits of building it
// with wixl, are in docs/deploy.md.
package msi
