// Package ollamatool is a tools module, kept out of the main module's
// go.mod: it pins the Ollama server (github.com/ollama/ollama v0.17.4,
// about 80 requires) that .ci/ollama.sh builds for runner/model's
// real-server test, and holds cmd/tinygguf, which writes the tiny
// random-weight model that test serves.
package ollamatool
