package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/sitewarden/sitewarden/plugins/sdk/proto/sitewarden/plugin/v1"
)

// The gRPC service, written by hand so that generation needs only
// protoc-gen-go (plugin.proto declares the same service).
const (
	serviceName    = "sitewarden.plugin.v1.PluginService"
	methodDescribe = "/" + serviceName + "/Describe"
	methodExecute  = "/" + serviceName + "/Execute"
)

// pluginService is the server side of PluginService.
type pluginService interface {
	Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error)
	Execute(context.Context, *pluginv1.ExecuteRequest) (*pluginv1.ExecuteResponse, error)
}

var _ pluginService = (*server)(nil)

func serviceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: serviceName,
		HandlerType: (*pluginService)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Describe", Handler: describeHandler},
			{MethodName: "Execute", Handler: executeHandler},
		},
		Metadata: "sitewarden/plugin/v1/plugin.proto",
	}
}

func describeHandler(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(pluginv1.DescribeRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		return srv.(pluginService).Describe(ctx, req.(*pluginv1.DescribeRequest))
	}
	if icpt == nil {
		return call(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: methodDescribe}, call)
}

func executeHandler(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
	in := new(pluginv1.ExecuteRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	call := func(ctx context.Context, req any) (any, error) {
		return srv.(pluginService).Execute(ctx, req.(*pluginv1.ExecuteRequest))
	}
	if icpt == nil {
		return call(ctx, in)
	}
	return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: methodExecute}, call)
}

// RegisterServer registers p's PluginService on s, with the SDK's
// parameter validation in front of p.Execute. Serve and sdktest use it.
func RegisterServer(s grpc.ServiceRegistrar, p Plugin) {
	s.RegisterService(serviceDesc(), &server{impl: p})
}

// server adapts a Plugin to PluginService. The catalog is built from the
// plugin's first successful Describe and reused.
type server struct {
	impl Plugin

	catalog atomic.Pointer[Catalog]
	mu      sync.Mutex // serialises building the catalog
}

func (s *server) getCatalog(ctx context.Context) (*Catalog, error) {
	if c := s.catalog.Load(); c != nil {
		return c, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.catalog.Load(); c != nil {
		return c, nil
	}
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "describe: %v", err)
	}
	c, err := NewCatalog(info)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.catalog.Store(c)
	return c, nil
}

func (s *server) Describe(ctx context.Context, _ *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	c, err := s.getCatalog(ctx)
	if err != nil {
		return nil, err
	}
	return infoToProto(c.Info()), nil
}

func (s *server) Execute(ctx context.Context, in *pluginv1.ExecuteRequest) (resp *pluginv1.ExecuteResponse, err error) {
	c, err := s.getCatalog(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.CheckParams(in.GetOperation(), in.GetParams()); err != nil {
		kind := pluginv1.FailureKind_FAILURE_KIND_INVALID_PARAMS
		if errors.Is(err, ErrUnknownOperation) {
			kind = pluginv1.FailureKind_FAILURE_KIND_UNKNOWN_OPERATION
		}
		return &pluginv1.ExecuteResponse{Failure: &pluginv1.Failure{Kind: kind, Message: err.Error()}}, nil
	}
	defer func() {
		// A panicking plugin fails the call, not the process. The panic
		// value may hold secrets, so it is not reported.
		if r := recover(); r != nil {
			resp, err = nil, status.Errorf(codes.Internal, "plugin panicked while running %s", in.GetOperation())
		}
	}()
	if ns := in.GetDeadlineUnixNano(); ns != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Unix(0, ns))
		defer cancel()
	}
	res, err := s.impl.Execute(ctx, Request{
		Operation:   in.GetOperation(),
		Params:      NormalizeParams(in.GetParams()),
		Credentials: in.GetCredentials(),
	})
	if err != nil {
		return &pluginv1.ExecuteResponse{Failure: &pluginv1.Failure{
			Kind:    pluginv1.FailureKind_FAILURE_KIND_ACTION,
			Message: err.Error(),
		}}, nil
	}
	return resultToProto(res), nil
}

// Client calls a plugin over a gRPC connection. It implements Plugin, so
// the host uses a plugin exactly as the plugin implements itself. Safe for
// concurrent use.
type Client struct {
	cc grpc.ClientConnInterface
}

var _ Plugin = (*Client)(nil)

// NewClient returns a Client over cc.
func NewClient(cc grpc.ClientConnInterface) *Client { return &Client{cc: cc} }

// Describe asks the plugin for its Info. It does not check it: use
// NewCatalog.
func (c *Client) Describe(ctx context.Context) (Info, error) {
	out := new(pluginv1.DescribeResponse)
	if err := c.cc.Invoke(ctx, methodDescribe, &pluginv1.DescribeRequest{}, out); err != nil {
		return Info{}, fmt.Errorf("describe: %w", err)
	}
	return infoFromProto(out), nil
}

// Execute runs one operation. A failed action wraps ErrActionFailed,
// rejected params ErrInvalidParams, an unknown operation
// ErrUnknownOperation; any other error means the call itself broke
// (the plugin crashed, the deadline passed, ...).
func (c *Client) Execute(ctx context.Context, req Request) (Result, error) {
	return c.ExecuteUntil(ctx, req, time.Time{})
}

// ExecuteUntil is Execute where the plugin must finish by deadline while
// ctx (whose deadline the host sets later, by a grace period) bounds the
// transport: a plugin that honours its deadline answers within the grace,
// a hung one leaves the call to end with codes.DeadlineExceeded. A zero
// deadline means ctx's.
func (c *Client) ExecuteUntil(ctx context.Context, req Request, deadline time.Time) (Result, error) {
	out := new(pluginv1.ExecuteResponse)
	in := &pluginv1.ExecuteRequest{Operation: req.Operation, Params: req.Params, Credentials: req.Credentials}
	if !deadline.IsZero() {
		in.DeadlineUnixNano = deadline.UnixNano()
	}
	if err := c.cc.Invoke(ctx, methodExecute, in, out); err != nil {
		return Result{}, fmt.Errorf("execute %s: %w", req.Operation, err)
	}
	if f := out.GetFailure(); f != nil {
		switch f.GetKind() {
		case pluginv1.FailureKind_FAILURE_KIND_INVALID_PARAMS:
			return Result{}, remoteError(ErrInvalidParams, f.GetMessage())
		case pluginv1.FailureKind_FAILURE_KIND_UNKNOWN_OPERATION:
			return Result{}, remoteError(ErrUnknownOperation, f.GetMessage())
		default:
			return Result{}, fmt.Errorf("%w: %s: %s", ErrActionFailed, req.Operation, f.GetMessage())
		}
	}
	return resultFromProto(out), nil
}

// maxVerifyExpect bounds an operation's encoded verification expectation.
const maxVerifyExpect = 4 << 10

func infoToProto(info Info) *pluginv1.DescribeResponse {
	out := &pluginv1.DescribeResponse{Name: info.Name, Version: info.Version}
	for _, v := range info.APIVersions {
		out.ApiVersions = append(out.ApiVersions, int32(v))
	}
	for _, op := range info.Operations {
		var expect []byte
		if len(op.VerifyExpect) > 0 {
			expect, _ = json.Marshal(op.VerifyExpect) // checked by the catalog
		}
		out.Operations = append(out.Operations, &pluginv1.Operation{
			Name: op.Name, Description: op.Description,
			ParamsSchema: op.ParamsSchema, ResultSchema: op.ResultSchema,
			Risk: string(op.Risk), Reversible: op.Reversible,
			ReversedBy: op.ReversedBy, VerifiedBy: op.VerifiedBy, VerifyExpect: expect,
		})
	}
	if spec := info.Credentials; spec != nil {
		out.Credentials = &pluginv1.CredentialSpec{}
		for _, k := range spec.Keys {
			out.Credentials.Keys = append(out.Credentials.Keys, &pluginv1.CredentialKey{
				Name: k.Name, Description: k.Description, Required: k.Required})
		}
	}
	return out
}

func infoFromProto(in *pluginv1.DescribeResponse) Info {
	info := Info{Name: in.GetName(), Version: in.GetVersion()}
	for _, v := range in.GetApiVersions() {
		info.APIVersions = append(info.APIVersions, int(v))
	}
	for _, op := range in.GetOperations() {
		var expect map[string]any
		if raw := op.GetVerifyExpect(); len(raw) > 0 && len(raw) <= maxVerifyExpect {
			// A malformed expectation leaves the map nil; the catalog check
			// then refuses the operation (VerifiedBy without a usable
			// expectation is still allowed, so it must be well formed).
			if json.Unmarshal(raw, &expect) != nil {
				expect = map[string]any{"": "malformed verify_expect"}
			}
		}
		info.Operations = append(info.Operations, Operation{
			Name: op.GetName(), Description: op.GetDescription(),
			ParamsSchema: op.GetParamsSchema(), ResultSchema: op.GetResultSchema(),
			Risk: Risk(op.GetRisk()), Reversible: op.GetReversible(),
			ReversedBy: op.GetReversedBy(), VerifiedBy: op.GetVerifiedBy(), VerifyExpect: expect,
		})
	}
	// An older plugin does not send the field: not declared (nil).
	if spec := in.GetCredentials(); spec != nil {
		info.Credentials = &CredentialSpec{Keys: []CredentialKey{}}
		for _, k := range spec.GetKeys() {
			info.Credentials.Keys = append(info.Credentials.Keys, CredentialKey{
				Name: k.GetName(), Description: k.GetDescription(), Required: k.GetRequired()})
		}
	}
	return info
}

func resultToProto(res Result) *pluginv1.ExecuteResponse {
	out := &pluginv1.ExecuteResponse{Output: res.Output, Secrets: res.Secrets}
	for _, o := range res.Observations {
		out.Observations = append(out.Observations, &pluginv1.Observation{Key: o.Key, Value: o.Value, Secret: o.Secret})
	}
	return out
}

func resultFromProto(in *pluginv1.ExecuteResponse) Result {
	res := Result{Output: in.GetOutput(), Secrets: in.GetSecrets()}
	for _, o := range in.GetObservations() {
		res.Observations = append(res.Observations, Observation{Key: o.GetKey(), Value: o.GetValue(), Secret: o.GetSecret()})
	}
	return res
}

// remoteErr is a failure reported by the plugin's SDK, whose message
// already names the sentinel.
type remoteErr struct {
	sentinel error
	msg      string
}

func (e *remoteErr) Error() string { return e.msg }
func (e *remoteErr) Unwrap() error { return e.sentinel }

func remoteError(sentinel error, msg string) error {
	if !strings.HasPrefix(msg, sentinel.Error()) {
		msg = sentinel.Error() + ": " + msg
	}
	return &remoteErr{sentinel: sentinel, msg: msg}
}
