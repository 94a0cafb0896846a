// Command tinygguf writes a tiny llama-architecture GGUF model with random
// weights and a byte-level GPT-2 BPE vocabulary, using Ollama's own
// fs/ggml.WriteGGUF. No real weights can be downloaded where Sitewarden's
// tests run; this model lets them exercise a real Ollama server (HTTP API,
// tool-call parsing, JSON-schema-constrained output). Its answers are
// nonsense by design.
//
// Usage: tinygguf -o tiny.gguf [-seed 1] [-ctx 4096]
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/ollama/ollama/fs/ggml"
	"github.com/x448/float16"
)

// Shape of the model: hidden 64, 2 layers, about 116K parameters.
const (
	hidden  = 64
	layers  = 2
	heads   = 4
	kvHeads = 4
	ffn     = 128
)

// Special tokens after the 256 byte tokens.
var specials = []string{"<|bos|>", "<|eos|>"}

// merges are a few GPT-2 style BPE merges over the byte alphabet; they make
// the tokenizer a real BPE one without changing what it can encode.
var merges = []string{"Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r"}

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tinygguf:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("tinygguf", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("o", "", "output GGUF file (required)")
	seed := fl.Uint64("seed", 1, "random seed for the weights")
	ctx := fl.Uint("ctx", 4096, "context length the model declares")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o is required, e.g. 'tinygguf -o tiny.gguf'")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	kv, ts := model(*seed, uint32(*ctx))
	if err := ggml.WriteGGUF(f, kv, ts); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return f.Close()
}

// byteTokens returns GPT-2's reversible byte-to-unicode alphabet: token i
// stands for byte i.
func byteTokens() []string {
	var printable []int
	for b := '!'; b <= '~'; b++ {
		printable = append(printable, int(b))
	}
	for b := 0xA1; b <= 0xAC; b++ {
		printable = append(printable, b)
	}
	for b := 0xAE; b <= 0xFF; b++ {
		printable = append(printable, b)
	}
	isPrintable := make(map[int]bool, len(printable))
	for _, b := range printable {
		isPrintable[b] = true
	}
	tokens := make([]string, 256)
	n := 0
	for b := range 256 {
		if isPrintable[b] {
			tokens[b] = string(rune(b))
			continue
		}
		tokens[b] = string(rune(256 + n))
		n++
	}
	return tokens
}

func model(seed uint64, ctxLen uint32) (ggml.KV, []*ggml.Tensor) {
	tokens := byteTokens()
	for _, m := range merges {
		var a, b string
		fmt.Sscanf(m, "%s %s", &a, &b)
		tokens = append(tokens, a+b)
	}
	bos := int32(len(tokens))
	tokens = append(tokens, specials...)
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = 1 // normal
	}
	types[bos], types[bos+1] = 3, 3 // control
	vocab := uint64(len(tokens))

	kv := ggml.KV{
		"general.architecture":                   "llama",
		"general.name":                           "sitewarden-tiny",
		"general.file_type":                      uint32(ggml.FileTypeF16),
		"general.alignment":                      uint32(32),
		"llama.block_count":                      uint32(layers),
		"llama.context_length":                   ctxLen,
		"llama.embedding_length":                 uint32(hidden),
		"llama.feed_forward_length":              uint32(ffn),
		"llama.attention.head_count":             uint32(heads),
		"llama.attention.head_count_kv":          uint32(kvHeads),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.dimension_count":             uint32(hidden / heads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.vocab_size":                       uint32(vocab),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "default",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.merges":                  merges,
		"tokenizer.ggml.bos_token_id":            uint32(bos),
		"tokenizer.ggml.eos_token_id":            uint32(bos + 1),
		"tokenizer.ggml.add_bos_token":           false,
		"tokenizer.ggml.add_eos_token":           false,
	}

	rng := rand.New(rand.NewPCG(seed, seed^0x5177e))
	kvDim := uint64(hidden / heads * kvHeads)
	ts := []*ggml.Tensor{
		f16(rng, "token_embd.weight", hidden, vocab),
		ones("output_norm.weight", hidden),
		f16(rng, "output.weight", hidden, vocab),
	}
	for i := range layers {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			ones(p+"attn_norm.weight", hidden),
			f16(rng, p+"attn_q.weight", hidden, hidden),
			f16(rng, p+"attn_k.weight", hidden, kvDim),
			f16(rng, p+"attn_v.weight", hidden, kvDim),
			f16(rng, p+"attn_output.weight", hidden, hidden),
			ones(p+"ffn_norm.weight", hidden),
			f16(rng, p+"ffn_gate.weight", hidden, ffn),
			f16(rng, p+"ffn_up.weight", hidden, ffn),
			f16(rng, p+"ffn_down.weight", ffn, hidden),
		)
	}
	return kv, ts
}

// values writes a tensor's elements in GGUF's little-endian layout.
type values struct {
	f32 []float32
	f16 []uint16
}

func (v values) WriteTo(w io.Writer) (int64, error) {
	var err error
	if v.f16 != nil {
		err = binary.Write(w, binary.LittleEndian, v.f16)
		return int64(2 * len(v.f16)), err
	}
	err = binary.Write(w, binary.LittleEndian, v.f32)
	return int64(4 * len(v.f32)), err
}

// f16 is a 2-D weight [cols, rows] with N(0, 1/sqrt(cols)) values, stored as
// F16 (Ollama reads an all-F32 file as type "unknown").
func f16(rng *rand.Rand, name string, cols, rows uint64) *ggml.Tensor {
	n := cols * rows
	vals := make([]uint16, n)
	scale := 1 / math.Sqrt(float64(cols))
	for i := range vals {
		vals[i] = float16.Fromfloat32(float32(rng.NormFloat64() * scale)).Bits()
	}
	return &ggml.Tensor{Name: name, Kind: 1, Shape: []uint64{cols, rows}, WriterTo: values{f16: vals}}
}

// ones is a 1-D F32 norm weight of ones.
func ones(name string, n uint64) *ggml.Tensor {
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = 1
	}
	return &ggml.Tensor{Name: name, Kind: 0, Shape: []uint64{n}, WriterTo: values{f32: vals}}
}
