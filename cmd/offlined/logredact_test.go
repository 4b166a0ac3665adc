package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/config"
)

// TestDaemonLoggerRedacts: the daemon's logger masks tokens, API keys,
// passwords and Authorization values in messages, attributes and errors,
// at DEBUG and in both formats.
func TestDaemonLoggerRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		lg := newLogger(config.Config{LogLevel: "debug", LogFormat: format}, &buf)
		lg.Debug("GET https://h/arcgis/rest/services/x/FeatureServer/0?f=json&token=tok.AAA111",
			"url", "https://h/x?token=tok.BBB222&f=json",
			"err", errors.New(`Get "https://h/y?access_token=tok.CCC333": EOF`),
			"password", "pw-DDD444",
			"hdr", "Authorization: Bearer tok.EEE555")
		lg.With("apiKey", "key-FFF666").Info("x", "form", "username=u&password=pw-GGG777")
		out := buf.String()
		for _, s := range []string{"AAA111", "BBB222", "CCC333", "DDD444", "EEE555", "FFF666", "GGG777"} {
			if strings.Contains(out, s) {
				t.Errorf("%s log carries %s:\n%s", format, s, out)
			}
		}
		if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "FeatureServer/0") {
			t.Errorf("%s log lost its content:\n%s", format, out)
		}
	}
}
