// Package arcgis is offlined's client for the ArcGIS REST API (ArcGIS Online
// and ArcGIS Enterprise portals, FeatureServer, MapServer, ImageServer and
// VectorTileServer) and the home of the wire types those services speak.
//
// The wire types in types.go mirror the JSON documents ArcGIS returns; other
// packages (geodb, tiles, offline, sync, the emulator) share them so that one
// definition of a layer, a field, a geometry or a replica exists in the tree.
//
// # Client
//
// New builds a Client from options: the portal URL, a Credential (Anonymous,
// APIKey, StaticToken, *UserCredential for generateToken,
// *OAuthRefreshCredential, *OAuthClientCredential, *FederatedCredential),
// per-service credentials (WithServiceCredential: URL prefix → credential,
// falling back to the portal's), TLS client certificates, an explicit
// InsecureSkipVerify that logs a warning, a proxy (environment by default),
// Referer, User-Agent, logger, retry policy and poll interval.
//
// The portal credential's token is sent only to trusted hosts: the
// portal's host, *.arcgis.com for an arcgis.com portal, WithTrustedHosts,
// and every host when neither a portal nor trusted hosts are set; other
// hosts get no token unless a service credential covers them. The rule
// holds on redirects (a token in the Location of a redirect to another host
// is dropped; a 307/308 that would resend a body with a token there is
// refused with *outbound.RedirectError) and for packages that make their
// own requests: Client.TokenFor gives the token per URL (tiles asks it for
// every style, TileJSON, sprite, glyph, tile and package URL). Errors and
// log lines never carry a token (net/http's *url.Error is masked; the
// logger is wrapped with redact.Handler).
//
// # Limits
//
// JSON answers read into memory are capped (WithMaxResponseBytes, default
// 64 MiB; *ResponseTooLargeError, not retried). The default transport
// refuses link-local and cloud metadata addresses at dial time
// (*outbound.BlockedAddressError; WithOutboundPolicy to allow them).
//
// Tokens go out as the form/query parameter "token". They are renewed
// before they expire (5 minutes early, or at 1/5 of a short lifetime) and
// when the server rejects them — ArcGIS error 498/499 in an HTTP 200 body,
// or HTTP 401/403 — after which the call is repeated once, transparently.
//
// # Errors
//
// Every ArcGIS error body becomes an *Error (Code, Message, Details,
// MessageCode; also the OAuth2 error_description shape). Non-2xx answers
// without such a body are *HTTPError. A 200 whose body lacks the keys the
// operation answers with (for example createReplica answered with service
// JSON) is an *UnexpectedResponseError. Missing tiles are *TileAbsentError
// (errors.Is ErrTileAbsent). Failed jobs are *JobError / *ReplicaJobError.
// Exhausted retries are *RetryError wrapping the last failure.
//
// # Retries
//
// Retries use exponential backoff with jitter on HTTP 5xx (and ArcGIS 5xx in
// a 200 body), 429 and 408 (honouring Retry-After seconds or dates),
// connection resets, timeouts and truncated bodies, bounded by
// RetryPolicy.MaxAttempts and MaxElapsed. Only requests safe to repeat are
// retried:
//
//   - retried: every GET (service, layer, portal, item, search, replica and
//     job status polls, tiles, tilemaps, styles, sprites, glyphs, result and
//     attachment downloads), query / queryAttachments (also when a URL over
//     2000 characters turns them into a POST), token requests,
//     estimateExportTilesSize, job cancel, upload delete;
//   - not retried once the request may have reached the server:
//     createReplica, synchronizeReplica, applyEdits, unRegisterReplica,
//     uploads/upload, register, uploadPart, commit, exportTiles submission.
//     They are repeated only when the connection could not be opened at all,
//     and once after a token rejection (the server did nothing then; an
//     upload only when its reader is an io.Seeker).
//
// Streams (Download, GetRaw, AttachmentData, Thumbnail) are retried until
// the body starts; a failure while reading the body is the caller's to
// handle.
package arcgis
