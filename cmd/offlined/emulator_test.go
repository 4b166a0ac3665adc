package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/testutil"
)

func TestEmulatorCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testutil.SyncBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--token-lifetime", "2s"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-errc:
			t.Fatalf("emulator exited early: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line in %q", stdout.String())
		}
	}
	out := stdout.String()
	for _, want := range []string{
		base + "/sharing/rest", base + "/arcgis/rest/services/Field_Survey/FeatureServer",
		emulator.DemoWebMapFieldSurveyID, emulator.DemoWebMapNoOfflineID,
		"user: " + emulator.DemoUser, "password: " + emulator.DemoPassword, emulator.DemoClientID, "token lifetime: 2s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	resp, err := http.PostForm(base+"/sharing/rest/generateToken", url.Values{
		"username": {emulator.DemoUser}, "password": {emulator.DemoPassword}, "f": {"json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token   string
		Expires int64
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.Token == "" {
		t.Fatalf("generateToken: %v %+v", err, tok)
	}
	if d := time.UnixMilli(tok.Expires).Sub(time.Now()); d > 3*time.Second {
		t.Errorf("--token-lifetime 2s: token valid for %s", d)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop after cancel")
	}
}

func TestEmulatorCommandFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a cancelled context: run starts, prints and stops at once
	var stdout, stderr testutil.SyncBuffer
	if err := run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--anonymous"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(stdout.String(), "anonymous access allowed") {
		t.Errorf("--anonymous not reported:\n%s", stdout.String())
	}
	if err := run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--public", "Field_Survey, Reference_Data"}, &stdout, &stderr); err != nil {
		t.Fatalf("--public: %v", err)
	}
	for _, args := range [][]string{
		{"emulator", "--token-lifetime", "0s", "--addr", "127.0.0.1:0"},
		{"emulator", "--addr", "256.0.0.1:99999"},
		{"emulator", "--nope"},
		{"emulator", "--addr", "127.0.0.1:0", "--public", "Field_Survey,NoSuchService"},
	} {
		if err := run(ctx, args, &stdout, &stderr); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
