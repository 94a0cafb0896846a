// Command evalcmd is 'make eval': it runs the planner scenario corpus
// (runner/model/eval/corpus) against whatever model the Ollama server at
// OLLAMA_HOST serves and prints resolution rate, correct-escalation rate,
// out-of-scope proposal rate and mean steps per goal.
//
//	OLLAMA_HOST=127.0.0.1:11434 go run ./runner/model/internal/evalcmd [-model NAME] [-corpus DIR] [-playbook]
//
// Without -model it uses the first model the server lists. -playbook
// measures the playbook planner instead, as a baseline.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
	"github.com/sitewarden/sitewarden/runner/model"
	"github.com/sitewarden/sitewarden/runner/model/eval"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("eval", flag.ContinueOnError)
	fl.SetOutput(stderr)
	corpus := fl.String("corpus", "runner/model/eval/corpus", "scenario corpus directory")
	name := fl.String("model", os.Getenv("EVAL_MODEL"), "model name (default: the first model the server lists)")
	playbook := fl.Bool("playbook", false, "measure the playbook planner instead of the model")
	perScenario := fl.Duration("scenario-timeout", 10*time.Minute, "wall-time bound per scenario")
	if err := fl.Parse(args); err != nil {
		return err
	}
	c, err := eval.Load(os.DirFS(*corpus))
	if err != nil {
		return fmt.Errorf("load corpus %s: %w", *corpus, err)
	}
	if *playbook {
		p, err := model.NewPlaybookPlanner(c.Playbooks)
		if err != nil {
			return err
		}
		return eval.Run(ctx, p, "playbook", c, *perScenario).Write(stdout)
	}
	host := hostURL(os.Getenv("OLLAMA_HOST"))
	if *name == "" {
		*name, err = firstModel(ctx, host)
		if err != nil {
			return err
		}
	}
	cfg := model.DefaultConfig()
	cfg.Host, cfg.Model = host, *name
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := model.NewOllama(cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ollama: %s\n", host)
	return eval.Run(ctx, p, p.Name(), c, *perScenario).Write(stdout)
}

// hostURL turns OLLAMA_HOST ("host:port", "http://host:port" or empty) into
// a base URL, as the ollama CLI reads it.
func hostURL(env string) string {
	switch {
	case env == "":
		return "http://127.0.0.1:11434"
	case strings.HasPrefix(env, "http://"), strings.HasPrefix(env, "https://"):
		return env
	}
	return "http://" + env
}

func firstModel(ctx context.Context, host string) (string, error) {
	u, err := url.Parse(host)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := api.NewClient(u, &http.Client{}).List(ctx)
	if err != nil {
		return "", fmt.Errorf("list models at %s (is 'ollama serve' running? set OLLAMA_HOST): %w", host, err)
	}
	if len(list.Models) == 0 {
		return "", errors.New("the server has no model; 'ollama pull' or 'ollama create' one, or pass -model")
	}
	return list.Models[0].Name, nil
}
