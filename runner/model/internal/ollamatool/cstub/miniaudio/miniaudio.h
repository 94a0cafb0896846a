/*
 * Stub of miniaudio for building Ollama from the Go module proxy.
 *
 * The module zip of github.com/ollama/ollama drops llama.cpp's vendor/
 * headers, and Debian 12 packages no miniaudio. llama.cpp's mtmd-helper.cpp
 * uses miniaudio only to decode audio input, which Sitewarden never sends, so
 * this header declares the few names it needs and every decode fails.
 */
#ifndef SITEWARDEN_MINIAUDIO_STUB_H
#define SITEWARDEN_MINIAUDIO_STUB_H

#include <stddef.h>

typedef int ma_result;
typedef unsigned long long ma_uint64;
typedef unsigned int ma_uint32;
typedef int ma_format;

#define MA_SUCCESS 0
#define MA_ERROR (-1)
#define ma_format_f32 5

typedef struct {
	ma_format format;
	ma_uint32 channels;
	ma_uint32 sampleRate;
} ma_decoder_config;

typedef struct {
	int unused;
} ma_decoder;

static inline ma_decoder_config ma_decoder_config_init(ma_format format, ma_uint32 channels, ma_uint32 sampleRate) {
	ma_decoder_config c;
	c.format = format;
	c.channels = channels;
	c.sampleRate = sampleRate;
	return c;
}

static inline ma_result ma_decoder_init_memory(const void *data, size_t size, const ma_decoder_config *config, ma_decoder *decoder) {
	(void)data; (void)size; (void)config; (void)decoder;
	return MA_ERROR;
}

static inline ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder *decoder, ma_uint64 *length) {
	(void)decoder;
	*length = 0;
	return MA_ERROR;
}

static inline ma_result ma_decoder_read_pcm_frames(ma_decoder *decoder, void *out, ma_uint64 count, ma_uint64 *read) {
	(void)decoder; (void)out; (void)count;
	*read = 0;
	return MA_ERROR;
}

static inline ma_result ma_decoder_uninit(ma_decoder *decoder) {
	(void)decoder;
	return MA_SUCCESS;
}

#endif
