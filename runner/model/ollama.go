package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ollama/ollama/api"
)

// Config configures the Ollama planner.
type Config struct {
	// Host is the Ollama server's base URL, e.g. "http://127.0.0.1:11434".
	Host string
	// Model is the model's name on that server, e.g. "qwen2.5:1.5b".
	Model string
	// Timeout bounds one chat call (prompt evaluation and generation).
	Timeout time.Duration
	// Retries is how many times a call is retried after a transport error,
	// a timeout or an HTTP 5xx; failed answers are never retried here (the
	// caller counts them).
	Retries int
	// RetryBackoff is the wait before the first retry; it doubles.
	RetryBackoff time.Duration
	// KeepAlive keeps the model loaded between steps (Ollama unloads idle
	// models after 5 minutes by default; reloading costs seconds).
	KeepAlive time.Duration
	// NumPredict bounds the answer's tokens; an answer cut by it is a
	// failed step.
	NumPredict int
	// NumCtx is the context window asked for.
	NumCtx int
	// Temperature and Seed make answers reproducible (0 and a fixed seed).
	Temperature float64
	Seed        int
	// MaxRationale bounds the rationale (characters; also in the format).
	MaxRationale int
	// MaxTicketBytes, MaxHistory and MaxObservationBytes bound the prompt.
	MaxTicketBytes      int
	MaxHistory          int
	MaxObservationBytes int
}

// DefaultConfig returns the defaults for a CPU-only site; set Model.
func DefaultConfig() Config {
	return Config{
		Host:                "http://127.0.0.1:11434",
		Timeout:             2 * time.Minute,
		Retries:             2,
		RetryBackoff:        500 * time.Millisecond,
		KeepAlive:           30 * time.Minute,
		NumPredict:          256,
		NumCtx:              8192,
		Temperature:         0,
		Seed:                42,
		MaxRationale:        200,
		MaxTicketBytes:      4096,
		MaxHistory:          16,
		MaxObservationBytes: 2048,
	}
}

// Validate reports the first invalid field, saying how to fix it.
func (c Config) Validate() error {
	u, err := url.Parse(c.Host)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("model config: host %q is not an http(s) URL; use e.g. http://127.0.0.1:11434", c.Host)
	case c.Model == "":
		return errors.New("model config: model is empty; name a model the Ollama server has ('ollama list')")
	case c.Timeout <= 0 || c.Timeout > time.Hour:
		return fmt.Errorf("model config: timeout %v must be in (0, 1h]", c.Timeout)
	case c.Retries < 0 || c.Retries > 10:
		return fmt.Errorf("model config: retries %d must be in [0, 10]", c.Retries)
	case c.RetryBackoff < 0 || c.RetryBackoff > time.Minute:
		return fmt.Errorf("model config: retry backoff %v must be in [0, 1m]", c.RetryBackoff)
	case c.KeepAlive < 0:
		return fmt.Errorf("model config: keep_alive %v must not be negative", c.KeepAlive)
	case c.NumPredict < 16 || c.NumPredict > 8192:
		return fmt.Errorf("model config: num_predict %d must be in [16, 8192]", c.NumPredict)
	case c.NumCtx < 256 || c.NumCtx > 1<<20:
		return fmt.Errorf("model config: num_ctx %d must be in [256, 1048576]", c.NumCtx)
	case c.Temperature < 0 || c.Temperature > 2:
		return fmt.Errorf("model config: temperature %v must be in [0, 2]", c.Temperature)
	case c.MaxRationale < 1 || c.MaxRationale > 2000:
		return fmt.Errorf("model config: max rationale %d must be in [1, 2000]", c.MaxRationale)
	case c.MaxTicketBytes < 1 || c.MaxTicketBytes > 1<<20:
		return fmt.Errorf("model config: max ticket bytes %d must be in [1, 1MiB]", c.MaxTicketBytes)
	case c.MaxHistory < 1 || c.MaxHistory > 1000:
		return fmt.Errorf("model config: max history %d must be in [1, 1000]", c.MaxHistory)
	case c.MaxObservationBytes < 16 || c.MaxObservationBytes > 1<<20:
		return fmt.Errorf("model config: max observation bytes %d must be in [16, 1MiB]", c.MaxObservationBytes)
	}
	return nil
}

// Ollama plans with a local model served by Ollama. Safe for concurrent use.
type Ollama struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger

	mu      sync.Mutex
	state   string // see Status
	stateAt time.Time
}

// Model states Status reports (the runner's heartbeat carries them).
const (
	StateConfigured  = "configured"  // no call made yet
	StateReady       = "ready"       // the last call was answered
	StateUnreachable = "unreachable" // the last call found no server or no model
)

// Status says whether the model answered its last call: StateConfigured
// before any call, StateReady after an answer (even one the planner then
// rejects), StateUnreachable after a call that found no server (transport
// errors, timeouts, 5xx after the retries) or no such model; at is when.
func (o *Ollama) Status() (state string, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.state == "" {
		return StateConfigured, time.Time{}
	}
	return o.state, o.stateAt
}

func (o *Ollama) setState(state string) {
	o.mu.Lock()
	o.state, o.stateAt = state, time.Now()
	o.mu.Unlock()
}

var _ Planner = (*Ollama)(nil)

// NewOllama returns a planner for cfg. It does not contact the server;
// the first Next does. A nil logger discards.
func NewOllama(cfg Config, log *slog.Logger) (*Ollama, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, _ := url.Parse(cfg.Host)
	// No client-wide timeout: each call gets cfg.Timeout through its context.
	return &Ollama{cfg: cfg, client: api.NewClient(u, &http.Client{}), log: log}, nil
}

// Name is the planner's audit name, "model:<model>".
func (o *Ollama) Name() string { return "model:" + o.cfg.Model }

// request is one prepared chat request with its audit hash.
type request struct {
	chat  *api.ChatRequest
	tools map[string]*compiledTool
	hash  string
}

// prepare builds the chat request for s: validation of the state, the
// prompt, the tools and the answer format. It is the planner's own
// per-step work (what BenchmarkPrepare measures).
func (o *Ollama) prepare(s State) (*request, error) {
	if s.Budget.Steps <= 0 {
		return nil, ErrBudgetExhausted
	}
	tools, err := compileTools(s.Tools)
	if err != nil {
		return nil, err
	}
	apiTools := make(api.Tools, 0, len(s.Tools))
	for _, t := range s.Tools {
		var params api.ToolFunctionParameters
		if err := json.Unmarshal(t.Params, &params); err != nil {
			return nil, fmt.Errorf("%w: tool %q parameters: %w", ErrInvalidState, t.Name, err)
		}
		apiTools = append(apiTools, api.Tool{
			Type:     "function",
			Function: api.ToolFunction{Name: t.Name, Description: t.Description, Parameters: params},
		})
	}
	format, err := answerFormat(s.Tools, o.cfg.MaxRationale)
	if err != nil {
		return nil, fmt.Errorf("%w: answer format: %w", ErrInvalidState, err)
	}
	user, err := userPrompt(s, promptLimits{
		ticketBytes:      o.cfg.MaxTicketBytes,
		historyAttempts:  o.cfg.MaxHistory,
		observationBytes: o.cfg.MaxObservationBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: prompt: %w", ErrInvalidState, err)
	}
	stream := false
	chat := &api.ChatRequest{
		Model: o.cfg.Model,
		Messages: []api.Message{
			{Role: "system", Content: systemPromptFor(s)},
			{Role: "user", Content: user},
		},
		Stream:    &stream,
		Format:    format,
		KeepAlive: &api.Duration{Duration: o.cfg.KeepAlive},
		Tools:     apiTools,
		Options: map[string]any{
			"temperature": o.cfg.Temperature,
			"seed":        o.cfg.Seed,
			"num_predict": o.cfg.NumPredict,
			"num_ctx":     o.cfg.NumCtx,
		},
	}
	body, err := json.Marshal(chat)
	if err != nil {
		return nil, fmt.Errorf("%w: encode request: %w", ErrInvalidState, err)
	}
	sum := sha256.Sum256(body)
	return &request{chat: chat, tools: tools, hash: hex.EncodeToString(sum[:])}, nil
}

// Next asks the model for the next step. See Planner.
func (o *Ollama) Next(ctx context.Context, s State) (Step, error) {
	req, err := o.prepare(s)
	if err != nil {
		return Step{}, err
	}
	meta := Meta{Planner: o.Name(), Model: o.cfg.Model, PromptSHA256: req.hash}
	resp, calls, err := o.call(ctx, req.chat)
	meta.Calls = calls
	if err != nil {
		return Step{}, err
	}
	step, perr := o.interpret(resp, req.tools, meta)
	if perr != nil {
		return Step{}, perr
	}
	return step, nil
}

// call sends the request, retrying transport errors, timeouts and 5xx.
func (o *Ollama) call(ctx context.Context, chat *api.ChatRequest) (api.ChatResponse, int, error) {
	backoff := o.cfg.RetryBackoff
	var last error
	for attempt := 0; attempt <= o.cfg.Retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return api.ChatResponse{}, attempt, ctx.Err()
			case <-t.C:
			}
			backoff *= 2
		}
		resp, err := o.once(ctx, chat)
		if err == nil {
			o.setState(StateReady)
			return resp, attempt + 1, nil
		}
		if ctx.Err() != nil {
			return api.ChatResponse{}, attempt + 1, ctx.Err()
		}
		var se api.StatusError
		if errors.As(err, &se) && se.StatusCode < 500 {
			if se.StatusCode == http.StatusNotFound {
				o.setState(StateUnreachable)
				return api.ChatResponse{}, attempt + 1, fmt.Errorf("%w: %q at %s: %s", ErrModelNotFound, o.cfg.Model, o.cfg.Host, se.ErrorMessage)
			}
			return api.ChatResponse{}, attempt + 1, fmt.Errorf("%w: %s", ErrRejected, se.Error())
		}
		last = err
		o.log.Warn("model call failed", "attempt", attempt+1, "host", o.cfg.Host, "err", err.Error())
	}
	o.setState(StateUnreachable)
	return api.ChatResponse{}, o.cfg.Retries + 1, fmt.Errorf("%w: %s after %d calls: %w; check that 'ollama serve' runs there", ErrUnreachable, o.cfg.Host, o.cfg.Retries+1, last)
}

// once makes one bounded chat call and returns the final response.
func (o *Ollama) once(ctx context.Context, chat *api.ChatRequest) (api.ChatResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	var final api.ChatResponse
	n := 0
	err := o.client.Chat(ctx, chat, func(r api.ChatResponse) error {
		n++
		if n > 1 {
			return errors.New("server streamed although stream was false")
		}
		final = r
		return nil
	})
	if err != nil {
		return api.ChatResponse{}, err
	}
	if n == 0 {
		return api.ChatResponse{}, errors.New("server sent no response")
	}
	return final, nil
}

// interpret turns the server's final response into a Step or a *PlanError.
func (o *Ollama) interpret(r api.ChatResponse, tools map[string]*compiledTool, meta Meta) (Step, *PlanError) {
	raw, err := json.Marshal(r.Message)
	if err == nil {
		meta.Raw = raw
	}
	meta.Usage = Usage{PromptTokens: r.PromptEvalCount, AnswerTokens: r.EvalCount, ModelTime: r.TotalDuration}
	fail := func(pe *PlanError) (Step, *PlanError) {
		pe.Meta = meta
		return Step{}, pe
	}
	if !r.Done {
		return fail(&PlanError{Kind: FailIncomplete, Detail: "the server answered done:false (generation aborted, e.g. token repeat limit)"})
	}
	if r.DoneReason == "length" {
		return fail(&PlanError{Kind: FailIncomplete, Detail: fmt.Sprintf("the answer was cut at num_predict=%d (done_reason length)", o.cfg.NumPredict)})
	}
	var a answer
	switch calls := r.Message.ToolCalls; {
	case len(calls) > 1:
		return fail(&PlanError{Kind: FailMalformed, Detail: fmt.Sprintf("%d tool calls in one answer; one step at a time", len(calls))})
	case len(calls) == 1:
		args, err := json.Marshal(calls[0].Function.Arguments)
		if err != nil {
			return fail(&PlanError{Kind: FailMalformed, Proposed: calls[0].Function.Name, Detail: "tool call arguments: " + err.Error()})
		}
		a = answer{Name: calls[0].Function.Name, Arguments: args}
		// The server's tool parser consumed the JSON; what is left of the
		// content may hold the rationale.
		if rest, err := decodeAnswer([]byte(r.Message.Content)); err == nil {
			a.Rationale = rest.Rationale
		}
	case r.Message.Content == "":
		return fail(&PlanError{Kind: FailEmpty, Detail: "the answer has neither content nor a tool call"})
	default:
		a, err = decodeAnswer([]byte(r.Message.Content))
		if err != nil {
			return fail(&PlanError{Kind: FailMalformed, Detail: err.Error()})
		}
	}
	step, pe := toStep(a, tools, o.cfg.MaxRationale)
	if pe != nil {
		return fail(pe)
	}
	step.Meta = meta
	return step, nil
}
